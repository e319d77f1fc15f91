"""The machine score (the same small-CNN training workload as the standalone cpu_score tool), the budgets it implies,
and what the runner records about the machine."""
import pytest
import torch

from a2lib import machine
from a2lib.workbook import results


def test_the_score_network_is_the_fixed_four_stage_cnn():
    widths, inputs, outputs = (32, 64, 128, 128), 3, 48
    convs = sum(a * b * 9 for a, b in zip((inputs, *widths[:-1]), widths))
    norms = sum(2 * w for w in widths)
    head = widths[-1] * outputs + outputs
    net = machine.score_network()
    assert sum(p.numel() for p in net.parameters()) == convs + norms + head
    assert net(torch.rand(2, 3, 64, 32)).shape == (2, 48)


def test_score_is_a_positive_rate_per_timed_block_and_leaves_the_generator_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    measured = machine.score(steps=2, repeats=3, batch=8)
    assert measured.images_per_s > 0 and len(measured.rates) == 3 and all(r > 0 for r in measured.rates)
    assert sorted(measured.rates)[1] == measured.images_per_s, "the score is the median block"
    assert torch.equal(torch.rand(3), expected), "measuring does not move the global generator"


def test_score_refuses_a_non_positive_count():
    with pytest.raises(ValueError, match="steps"):
        machine.score(steps=0)


def test_budgets_scale_inversely_with_the_score():
    assert machine.budget_seconds(300) == pytest.approx(900)
    assert machine.budget_seconds(750) == pytest.approx(900 * 300 / 750)
    assert machine.budget_seconds(150, machine.NOTEBOOK01_BUDGET_S) == pytest.approx(960)
    with pytest.raises(ValueError, match="machine_score"):
        machine.budget_seconds(0)


def test_the_recorded_machine_names_the_cpu_its_capability_and_the_score():
    box = results.machine(measure=True)
    assert box["score_images_per_s"] > 0
    assert box["cpu_model"] and box["cpu_capability"] == str(torch.backends.cpu.get_cpu_capability())
    assert box["cpu_cores"] >= 1 and box["torch_threads"] == torch.get_num_threads() and box["torch"]
    assert "score_images_per_s" not in results.machine(), "measuring is asked for"
    text = results.machine_text(box)
    assert box["cpu_model"] in text and f"machine score {box['score_images_per_s']:,.0f} images/s" in text


def test_the_timing_table_states_the_budget_of_the_recorded_score(tmp_path, monkeypatch):
    monkeypatch.setenv("A2LIB_ROOT", str(tmp_path))
    box = {**results.machine(), "score_images_per_s": 600.0}
    results.write_timings("quick", "R", {"01_simplicity_bias": 200.0}, {"01_simplicity_bias": "ok"}, box=box)
    table = results.timings_markdown("quick")
    assert "machine score 600 images/s" in table
    assert "at most 450 s (900 x 300 / 600)" in table and "notebook 01 at most 240 s" in table
    old = {key: value for key, value in box.items() if key not in ("score_images_per_s", "cpu_model")}
    assert "score" not in results.machine_text(old) and results.budget_text(old, "quick") == ""


def test_the_score_switched_off_is_recorded_as_absent_and_names_no_budget(monkeypatch):
    monkeypatch.setenv(machine.NO_SCORE_ENV, "1")
    box = results.machine(measure=True)
    assert "score_images_per_s" not in box and "machine score" not in results.machine_text(box)
    assert results.budget_text(box, "quick") == ""
