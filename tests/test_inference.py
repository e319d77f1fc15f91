"""a2lib.inference: the one sign convention (0 -> +1, NaN/bool/{0,1} refused), ``evaluating``, mapping a model."""
import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from a2lib.inference import binary, check_codes, encode_dataset, evaluating, map_dataset
from test_train import TinyHash, TinySet, forward_rounding_bound


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("start_training", [True, False])
def test_evaluating_restores_the_mode_also_after_an_exception(start_training):
    model = TinyHash()
    model.train(start_training)
    with evaluating(model) as inside:
        assert inside is model and not model.training
    assert model.training == start_training
    with pytest.raises(Boom):
        with evaluating(model):
            raise Boom("inside the body")
    assert model.training == start_training


def test_binary_maps_exact_zero_to_plus_one_and_keeps_the_sign_elsewhere():
    codes = torch.tensor([[0.0, -0.0, 1e-30, -1e-30, 0.7, -2.0]])
    assert torch.equal(binary(codes), torch.tensor([[1.0, 1.0, 1.0, -1.0, 1.0, -1.0]]))
    assert binary(codes).dtype == torch.float32
    assert torch.equal(binary(np.array([[1, -1], [-1, 1]])), torch.tensor([[1.0, -1.0], [-1.0, 1.0]]))
    assert torch.equal(binary(torch.tensor([[0.5, -0.5]], dtype=torch.float64)), torch.tensor([[1.0, -1.0]]))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_binary_refuses_nan_and_inf_instead_of_guessing_a_sign(bad):
    codes = torch.tensor([[0.3, bad, -0.2], [0.1, 0.2, 0.3]])
    with pytest.raises(ValueError, match=r"my codes contains NaN or infinite values \(1 code"):
        binary(codes, "my codes")


def test_binary_refuses_bool_and_zero_one_bits_and_says_how_to_convert():
    bits = torch.tensor([[1, 0, 1], [0, 0, 1]])
    with pytest.raises(ValueError, match=r"only 0 and 1.*2 \* bits - 1"):
        binary(bits)
    with pytest.raises(ValueError, match=r"only 0 and 1.*2 \* bits - 1"):
        binary(bits.float().numpy())
    with pytest.raises(ValueError, match=r"boolean.*2 \* bits - 1"):
        binary(bits.bool())
    assert torch.equal(binary(2 * bits - 1), (2 * bits - 1).float())
    assert torch.equal(binary(torch.ones(2, 3)), torch.ones(2, 3))  # all +1 is a valid code, not {0, 1} bits
    assert torch.equal(binary(torch.zeros(1, 3, dtype=torch.float64)), torch.ones(1, 3))  # real codes exactly at 0


def test_check_codes_refuses_non_numeric_input():
    with pytest.raises(TypeError, match="numeric"):
        check_codes("0101")
    with pytest.raises(TypeError, match="real numbers"):
        check_codes(torch.zeros(2, 2, dtype=torch.complex64))


def _pre_codes(model, images):
    return model.layer(images.flatten(1))


@pytest.mark.parametrize("start_training", [True, False])
def test_map_dataset_matches_a_direct_forward_in_order_and_keeps_the_mode(start_training):
    model, data = TinyHash(), TinySet(n=11)
    model.train(start_training)
    chunks = map_dataset(model, data, _pre_codes, batch_size=4)
    assert [len(c) for c in chunks] == [4, 4, 3] and model.training == start_training
    with torch.no_grad():
        direct = _pre_codes(model, data.images)
    tolerance = 2 * forward_rounding_bound(model.layer, data.images)
    assert tolerance.max() < 1e-4 < direct.abs().mean()
    assert ((torch.cat(chunks) - direct).abs() <= tolerance).all()
    picked = torch.cat(map_dataset(model, data, _pre_codes, batch_size=2, indices=[7, 0, 3]))
    assert ((picked - direct[[7, 0, 3]]).abs() <= tolerance[[7, 0, 3]]).all()


def test_map_dataset_restores_the_mode_when_the_function_raises():
    model = TinyHash()
    model.train()

    def failing(net, images):
        raise Boom("in the mapped function")

    with pytest.raises(Boom):
        map_dataset(model, TinySet(n=4), failing)
    assert model.training


def test_encode_dataset_is_the_eval_mode_tanh_code_without_gradients():
    model, data = TinyHash(), TinySet(n=9)
    model.train()
    codes = encode_dataset(model, data, batch_size=5)
    assert model.training and not codes.requires_grad and codes.dtype == torch.float32 and codes.shape == (9, 6)
    with torch.no_grad():
        direct = torch.tanh(model.layer(data.images.flatten(1)))
    assert ((codes - direct).abs() <= 2 * forward_rounding_bound(model.layer, data.images)).all()
    assert encode_dataset(model, TensorDataset(torch.zeros(0, 3, 4, 4))).shape == (0, 6)
