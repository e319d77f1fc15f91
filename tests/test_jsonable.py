"""``a2lib.jsonable``: one conversion to JSON for configs, model descriptions and results files."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from a2lib.jsonable import json_default, jsonable
from a2lib.models import build
from a2lib.train import TrainConfig


def test_a_value_comes_back_as_a_json_file_gives_it():
    value = {"size": (64, 32), 3: Path("weights/a.pt"), "mean": np.float32(0.5), "codes": torch.tensor([[1, -1]]),
             "array": np.arange(3), "none": None}
    assert jsonable(value) == {"size": [64, 32], "3": "weights/a.pt", "mean": 0.5, "codes": [[1, -1]],
                               "array": [0, 1, 2], "none": None}
    assert json.loads(json.dumps(value, default=json_default)) == jsonable(value)


def test_an_object_json_cannot_hold_is_an_error_naming_its_type():
    with pytest.raises(TypeError, match="cannot write object as JSON"):
        jsonable({"thing": object()})


def test_configs_and_model_descriptions_use_it():
    config = TrainConfig(model_options={"image_size": (64, 32), "weights_path": Path("w.pt")})
    assert config.to_dict()["model_options"] == {"image_size": [64, 32], "weights_path": "w.pt"}
    model = build("a2net", 12, backbone="small", image_size=(64, 32), num_maps=2)
    assert model.config_dict()["image_size"] == [64, 32]
