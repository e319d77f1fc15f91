"""Models: shapes for every model x backbone x bits, a training step, gradients, flags, ExchNet anchors, bad input."""
import json
import warnings

import pytest
import torch
import torchvision

from a2lib import losses
from a2lib.models import HashOutput, backbones, build, list_backbones, list_models

MODELS = ["baseline", "a2net", "a2net++", "exchnet"]
BACKBONES = ["small", "resnet18", "resnet32", "resnet50"]
BITS = [12, 24, 32, 48]
SIZE = {"small": (64, 64), "resnet32": (64, 32), "resnet18": (32, 32), "resnet50": (32, 32)}


def _build(name, bits, backbone="small", **options):
    if backbone in ("resnet18", "resnet50"):
        options.setdefault("pretrained", False)
    if name.startswith("a2net"):
        options.setdefault("image_size", SIZE[backbone])
    return build(name, bits, backbone=backbone, **options)


def _step_inputs(model, n=4, size=(64, 64), num_database=10, seed=0):
    gen = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 3, *size, generator=gen)
    labels = torch.arange(n) % 2
    database = torch.where(torch.rand(num_database, model.bits, generator=gen) > 0.5, 1.0, -1.0)
    db_labels = torch.arange(num_database) % 2
    similarity = (labels[:, None] == db_labels[None, :]).float() * 2 - 1
    return images, labels, similarity, database, database[:n]


def test_registry_lists_names():
    assert list_models(asymmetric=True) == MODELS
    assert list_models() == MODELS + ["dpsh", "hashnet", "csq", "orthocos", "ce-classifier"]  # test_classifier.py
    assert list_backbones() == BACKBONES


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("name", MODELS)
def test_output_shapes_for_every_bits(name, backbone):
    """Every model x backbone x bits, built and run on the meta device (shapes only, no arithmetic)."""
    size = SIZE[backbone]
    with torch.device("meta"):
        out_channels = backbones.build_backbone(backbone, False).out_channels
    for bits in BITS:
        with torch.device("meta"):
            model = _build(name, bits, backbone).eval()
            images = torch.empty(2, 3, *size)
            out = model(images)
        assert isinstance(out, HashOutput)
        assert out.codes.shape == (2, bits)
        if name.startswith("a2net"):
            assert out.attention.shape[:2] == (2, bits)
            assert out.features.shape == (2, model.feature_dim) == out.features_hat.shape
            assert model.feature_dim == (bits + 1) * out_channels
        if name == "a2net++":
            assert out.recon_g.shape == images.shape == out.recon_gp.shape
        if name == "exchnet":
            assert out.part_features.shape[:2] == (2, 4)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_the_declared_image_size_is_the_built_backbones(backbone):
    with torch.device("meta"):
        built = backbones.build_backbone(backbone, False)
    assert backbones.default_image_size(backbone) == tuple(built.default_image_size)  # planning builds none
    with pytest.raises(ValueError, match="unknown backbone"):
        backbones.default_image_size("vgg")


@pytest.mark.parametrize("backbone", BACKBONES)
def test_real_forward_on_every_backbone(backbone):
    torch.manual_seed(0)
    images = torch.rand(2, 3, *SIZE[backbone])
    for name in MODELS:
        model = _build(name, 12, backbone).eval()
        with torch.no_grad():
            out = model(images)
        assert out.codes.shape == (2, 12) and out.codes.abs().max() < 1
        assert torch.allclose(model.encode(images), out.codes)
        if name == "a2net++":
            assert out.recon_g.shape == images.shape and torch.isfinite(out.recon_gp).all()


@pytest.mark.parametrize("name", MODELS)
def test_train_step_and_encode_on_cpu(name):
    torch.manual_seed(0)
    model = _build(name, 12)
    images, labels, similarity, database, batch_codes = _step_inputs(model)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    total, terms = losses.objective(model(images, labels), images, similarity, database, batch_codes,
                                    losses.LossWeights(), labels)
    optimizer.zero_grad()
    total.backward()
    optimizer.step()
    assert torch.isfinite(total) and "hashing" in terms
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    codes = model.encode(images)
    assert codes.shape == (4, 12) and codes.abs().max() <= 1 and not codes.requires_grad
    json.dumps(model.config_dict())
    assert model.config_dict()["name"] == name


@pytest.mark.parametrize("name", MODELS)
def test_gradients_reach_every_parameter(name):
    torch.manual_seed(0)
    model = _build(name, 12)
    if name == "exchnet":
        loader = [(torch.rand(4, 3, 64, 64), torch.tensor([0, 1, 0, 1]))]
        model.prepare_outer_iteration(0, loader, "cpu", outer_iterations=1)
    images, labels, similarity, database, batch_codes = _step_inputs(model)
    out = model(images, labels)
    total, _ = losses.objective(out, images, similarity, database, batch_codes, losses.LossWeights(), labels)
    total.backward()
    silent = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert silent == []
    assert all(not b.requires_grad for b in model.buffers())


def test_tied_decoder_uses_w_only():
    model = _build("a2net", 12)
    out = model(torch.rand(3, 3, 64, 64))
    assert torch.allclose(out.features_hat, out.codes @ model.W)
    assert torch.allclose(out.pre_codes, out.features @ model.W.t())
    shapes = [tuple(p.shape) for p in model.parameters()]
    assert shapes.count((12, model.feature_dim)) == 1 and (model.feature_dim, 12) not in shapes


def test_image_path_from_g_does_not_reach_w_but_from_gp_does():
    torch.manual_seed(0)
    images = torch.rand(3, 3, 64, 64)
    for mode, reaches_w in (("g", False), ("gp", True)):
        model = _build("a2net", 12, image_reconstruction=mode, feature_reconstruction=False)
        out = model(images)
        assert (out.recon_g is None) == (mode == "gp") and (out.recon_gp is None) == (mode == "g")
        losses.image_reconstruction_loss(out.recon_g if mode == "g" else out.recon_gp, images).backward()
        assert (model.W.grad is not None and model.W.grad.abs().sum() > 0) == reaches_w
        assert model.W_prime.weight.grad.abs().sum() > 0


def test_reconstruction_is_in_the_input_space():
    """Linear output (no sigmoid): it can match normalised targets outside [0, 1]."""
    model = _build("a2net++", 12)
    last = model.decoder.deconv[-1]
    assert isinstance(last, torch.nn.Conv2d)
    with torch.no_grad():
        last.bias.fill_(-3.0)
    images = (torch.rand(2, 3, 64, 64) - 0.485) / 0.229
    out = model(images)
    assert out.recon_g.shape == images.shape and out.recon_g.min() < 0
    assert losses.image_reconstruction_loss(out.recon_g, images).item() == pytest.approx(
        ((out.recon_g - images) ** 2).mean().item(), rel=1e-5)
    assert losses.image_reconstruction_loss(out.recon_g, images, "per_image").item() == pytest.approx(
        ((out.recon_g - images) ** 2).sum().item() / 2, rel=1e-5)


def test_decoder_resizes_with_one_warning_when_built_for_another_size():
    model = _build("a2net++", 12, image_size=(64, 64)).eval()
    with pytest.warns(RuntimeWarning, match=r"pass image_size=\(64, 32\)"):
        out = model(torch.rand(1, 3, 64, 32))
    assert out.recon_g.shape == (1, 3, 64, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model(torch.rand(1, 3, 64, 32))


def test_balanced_parts_weigh_the_local_block_like_the_global_part():
    images = torch.rand(2, 3, 64, 64)
    torch.manual_seed(0)
    plain = _build("a2net", 12, num_maps=4, normalize_parts=True).eval()
    torch.manual_seed(0)
    balanced = _build("a2net", 12, num_maps=4, normalize_parts=True, balance_parts=True).eval()
    assert torch.equal(plain.W, balanced.W)
    x_plain, x_balanced = plain(images).features, balanced(images).features
    local = slice(0, 4 * 128)
    assert torch.allclose(x_balanced[:, local], x_plain[:, local] / 2)
    assert torch.allclose(x_balanced[:, 4 * 128:], x_plain[:, 4 * 128:])
    assert torch.allclose(x_balanced[:, local].norm(dim=1), torch.ones(2), atol=1e-5)
    assert torch.allclose(x_balanced.pow(2).sum(1), torch.full((2,), 2.0), atol=1e-5)


def test_half_resolution_decoder_returns_full_size_images_without_warning():
    model = _build("a2net++", 12, num_maps=4, decoder_downsample=2).eval()
    assert model.decoder.decoded_size == (32, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = model(torch.rand(2, 3, 64, 64))
    assert out.recon_g.shape == out.recon_gp.shape == (2, 3, 64, 64)
    full = _build("a2net++", 12, num_maps=4)
    assert sum(p.numel() for p in model.decoder.parameters()) < sum(p.numel() for p in full.decoder.parameters())
    with pytest.raises(ValueError, match="decoder_downsample"):
        _build("a2net++", 12, decoder_downsample=0)


def test_ablation_flags():
    images = torch.rand(2, 3, 64, 64)
    plain = _build("a2net", 12, attention=False, feature_reconstruction=False, decorrelation=False)(images)
    assert plain.attention is None and plain.features.shape == (2, 128)
    assert plain.features_hat is None and not plain.decorrelate and plain.recon_g is None
    _, terms = losses.objective(plain, images, torch.ones(2, 5), torch.ones(5, 12), None)
    assert set(terms) == {"hashing"}
    both = _build("a2net", 12, image_reconstruction="both", num_maps=3)(images)
    assert both.attention.shape[1] == 3 and both.features.shape == (2, 4 * 128)
    assert both.recon_g is not None and both.recon_gp is not None and both.decorrelate
    assert _build("a2net++", 12).config.image_reconstruction == "both"


def test_chunked_and_checkpointed_local_branch_match_batched():
    torch.manual_seed(0)
    reference = _build("a2net", 12).eval()
    chunked = _build("a2net", 12, local_chunk=5, checkpoint_local=True).eval()
    chunked.load_state_dict(reference.state_dict())
    images = torch.rand(2, 3, 64, 64)
    a, b = reference(images), chunked(images)
    assert torch.allclose(a.codes, b.codes, atol=1e-6)
    a.codes.sum().backward()
    b.codes.sum().backward()
    assert torch.allclose(reference.W.grad, chunked.W.grad, atol=1e-5)


def test_exchnet_anchors_are_class_means_and_exchange_swaps_parts():
    torch.manual_seed(0)
    model = _build("exchnet", 12, align_from=2, exchange_prob=1.0)
    batches = [(torch.rand(3, 3, 64, 64), torch.tensor([0, 2, 0])), (torch.rand(2, 3, 64, 64), torch.tensor([2, 0]))]
    model.prepare_outer_iteration(1, batches, "cpu")
    assert model.anchors.shape[0] == 0
    model.prepare_outer_iteration(2, batches, "cpu")
    assert model.training
    model.eval()
    with torch.no_grad():
        parts = [model(images).part_features for images, _ in batches]
    members = {0: [parts[0][0], parts[0][2], parts[1][1]], 2: [parts[0][1], parts[1][0]]}
    for label, items in members.items():
        assert torch.allclose(model.anchors[label], sum(items) / len(items), atol=1e-5)
    assert model.anchor_valid.tolist() == [True, False, True]
    model.train()
    images, labels = batches[0]
    out = model(images, labels)
    pooled = torch.cat([model.anchors[labels].flatten(1), model.parts(images)[3]], 1)
    assert torch.allclose(out.codes, torch.tanh(model.hash_layer(pooled)), atol=1e-5)
    _, terms = losses.objective(out, images, torch.ones(3, 4), torch.ones(4, 12), None)
    assert {"spatial_diversity", "channel_diversity", "alignment"} == set(terms) - {"hashing"}
    assert terms["alignment"].item() == 0.0  # every part exchanged: each is its anchor, as in the public code
    model.config.exchange_prob = 0.0
    out = model(images, labels)
    assert torch.allclose(out.part_anchors, model.anchors[labels])
    _, terms = losses.objective(out, images, torch.ones(3, 4), torch.ones(4, 12), None)
    expected = (out.part_features - model.anchors[labels]).norm() / len(images)
    assert terms["alignment"].item() == pytest.approx(expected.item(), rel=1e-5)


def test_exchnet_aligns_from_the_second_half_by_default():
    model = _build("exchnet", 12)
    assert [model.align_start(t) for t in (1, 8, 12, 60)] == [0, 4, 6, 30]
    assert _build("exchnet", 12, align_from=3).align_start(None) == 3
    with pytest.raises(ValueError, match="pass outer_iterations"):
        model.align_start(None)


def test_weights_path_roundtrip_and_errors(tmp_path):
    torch.manual_seed(0)
    source = backbones.build_backbone("small")
    path = tmp_path / "small.pt"
    torch.save({"trunk." + k: v for k, v in source.trunk.state_dict().items()}
               | {"last_stage." + k: v for k, v in source.last_stage.state_dict().items()}, path)
    loaded = backbones.build_backbone("small", weights_path=str(path))
    for a, b in zip(source.trunk.parameters(), loaded.trunk.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build("baseline", 12, backbone="resnet18", weights_path=str(tmp_path / "missing.pt"))
    torch.save({"fc.weight": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="does not match a torchvision resnet18: missing keys"):
        build("baseline", 12, backbone="resnet18", weights_path=str(tmp_path / "bad.pt"))
    resnet = torchvision.models.resnet18(weights=None)
    torch.save(resnet.state_dict(), tmp_path / "r18.pt")
    model = build("baseline", 12, backbone="resnet18", weights_path=str(tmp_path / "r18.pt"))
    assert torch.equal(model.trunk[0].weight, resnet.conv1.weight)


def test_offline_imagenet_weights_warn_once(monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline)
    monkeypatch.setattr(backbones, "_warned", set())
    with pytest.warns(RuntimeWarning, match="ImageNet weights for resnet18 could not be fetched .*weights_path="):
        build("baseline", 12, backbone="resnet18", pretrained=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build("baseline", 12, backbone="resnet18", pretrained=True)


@pytest.mark.parametrize("bits", [0, -3, 1.5, True, "12", None])
def test_bits_must_be_positive_int(bits):
    with pytest.raises(ValueError, match="bits must be a positive integer"):
        build("baseline", bits, backbone="small")


def test_bad_names_options_and_inputs():
    with pytest.raises(ValueError, match="at most 256"):
        build("a2net", 257, backbone="small")
    with pytest.raises(ValueError, match="unknown model 'vgg'; choose one of baseline, a2net, a2net\\+\\+, exchnet"):
        build("vgg", 12)
    with pytest.raises(ValueError, match="unknown backbone 'vgg16'; choose one of small, resnet18, resnet32"):
        build("a2net", 12, backbone="vgg16")
    with pytest.raises(ValueError, match="unknown option.*'colour'.*valid options"):
        build("baseline", 12, backbone="small", colour=True)
    with pytest.raises(ValueError, match="image_reconstruction='all' is not one of none, g, gp, both"):
        build("a2net", 12, backbone="small", image_reconstruction="all")
    with pytest.raises(ValueError, match="has no ImageNet weights"):
        build("baseline", 12, backbone="small", pretrained=True)
    model = build("baseline", 12, backbone="small")
    with pytest.raises(ValueError, match="built for 3-channel images but got 1 channels"):
        model(torch.rand(2, 1, 64, 64))
    with pytest.raises(ValueError, match="at least 8 pixels"):
        model.encode(torch.rand(2, 3, 4, 64))
    with pytest.raises(ValueError, match=r"shaped \(n, C, H, W\)"):
        model(torch.rand(3, 64, 64))
    gray = build("baseline", 12, backbone="small", in_channels=1)
    assert gray.encode(torch.rand(2, 1, 64, 64)).shape == (2, 12)


def test_uint8_and_empty_batches_are_refused_with_the_fix():
    """Issue 18 point 10: raw torch errors became messages that say what to do."""
    model = build("baseline", 12, backbone="small")
    images = (torch.rand(2, 3, 64, 64) * 255).to(torch.uint8)
    for call in (model, model.encode):
        with pytest.raises(ValueError, match=r"got dtype torch.uint8; convert with images.float\(\) / 255.*a2lib.data"):
            call(images)
        with pytest.raises(ValueError, match="empty batch"):
            call(torch.rand(0, 3, 64, 64))


def test_float64_images_are_converted_to_the_weights_dtype():
    """Documented choice: float64 input (numpy's default) gives the same codes as the same images in float32."""
    model = build("baseline", 12, backbone="small").eval()
    images = torch.rand(2, 3, 64, 64, dtype=torch.float64)
    codes = model.encode(images)
    assert codes.dtype == torch.float32
    assert torch.equal(codes, model.encode(images.float()))
    assert torch.equal(model(images).codes, model(images.float()).codes)
