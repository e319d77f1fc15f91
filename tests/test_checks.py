"""``a2lib.checks``: one family of value checks, each ``(name, value, ...)``, each message
``<name> must be <what>, got <value>``, returning the value converted; no other module defines its own."""
import inspect
import re
from pathlib import Path

import numpy as np
import pytest

from a2lib import checks
from a2lib.checks import check_bool, check_int, check_interval, check_number, check_positive_int, check_real

PACKAGE = Path(checks.__file__).parent


@pytest.mark.parametrize("call, message", [
    (lambda: check_int("seed", 1.5), "seed must be an integer, got 1.5"),
    (lambda: check_int("seed", -1, 0), "seed must be an integer >= 0, got -1"),
    (lambda: check_int("digits.jitter", 6, 0, 4), "digits.jitter must be an integer in [0, 4], got 6"),
    (lambda: check_positive_int("bits", True), "bits must be a positive integer, got True"),
    (lambda: check_positive_int("bits", 0, meaning="e.g. 12, 24, 32, 48"),
     "bits must be a positive integer (e.g. 12, 24, 32, 48), got 0"),
    (lambda: check_positive_int("num_maps", 80, maximum=64),
     "num_maps=80 is beyond what this model supports; use at most 64"),
    (lambda: check_real("fraction", 1.0, 0.0, 1.0, low_open=True, high_open=True),
     "fraction must be a number in (0.0, 1.0), got 1.0"),
    (lambda: check_real("rate", float("nan"), 0.0), "rate must be a number >= 0.0, got nan"),
    (lambda: check_number("lr", 0, positive=True), "lr must be a finite number > 0, got 0"),
    (lambda: check_number("eta", -0.5), "eta must be a finite number >= 0, got -0.5"),
    (lambda: check_bool("download", "no"), "download must be True or False, got 'no'"),
    (lambda: check_interval("radius", (5, 3), 0, 16), "radius must be a pair (low, high) with low <= high, both in "
                                                      "[0, 16], got (5, 3)"),
])
def test_a_bad_value_is_refused_with_its_name_and_what_it_must_be(call, message):
    with pytest.raises(ValueError) as error:
        call()
    assert str(error.value) == message


def test_a_good_value_comes_back_converted():
    assert check_int("n", np.int64(3), 1) == 3 and type(check_int("n", np.int64(3), 1)) is int
    assert check_positive_int("bits", np.int32(48), maximum=64) == 48
    assert type(check_real("p", 1, 0, 1)) is float and check_number("lr", 2) == 2.0
    assert check_interval("r", [1, 2], 0, 3) == (1.0, 2.0)


def test_every_check_takes_the_name_first():
    for name, function in vars(checks).items():
        if name.startswith("check_") and inspect.isfunction(function):
            assert list(inspect.signature(function).parameters)[:2] == ["name", "value"], name


def test_no_module_keeps_a_validator_family_or_json_conversion_of_its_own():
    own = re.compile(r"^def (check_int|check_integer|check_positive_int|check_number|check_real|check_bits|"
                     r"check_count|_?jsonable)\(", re.MULTILINE)
    found = {path.relative_to(PACKAGE).as_posix(): own.findall(path.read_text()) for path in PACKAGE.rglob("*.py")}
    assert {path: names for path, names in found.items() if names} == {
        "checks.py": ["check_int", "check_positive_int", "check_real", "check_number"], "jsonable.py": ["jsonable"]}
