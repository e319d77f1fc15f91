"""The cross-entropy classifier control: BASELINE's network and codes, softmax cross-entropy on a linear classifier
that reads the codes, trained by the existing trainer; the study gives it num_classes from the data."""
import pytest
import torch

from a2lib.data import ArrayDataset
from a2lib.inference import binary, encode_dataset
from a2lib.models import build
from a2lib.studies import Study
from a2lib.train import TrainConfig, train

BITS = 8
CLASSES = 3


def test_codes_are_baselines_and_the_loss_is_cross_entropy_of_the_classifier_on_them():
    torch.manual_seed(0)
    model = build("ce-classifier", BITS, backbone="small", num_classes=CLASSES).eval()
    images, labels = torch.rand(5, 3, 16, 16), torch.tensor([0, 1, 2, 1, 0])
    out = model(images)
    assert torch.allclose(out.codes, torch.tanh(model.hash_layer(out.features)))
    assert torch.allclose(model.encode(images), out.codes)
    logits = out.codes @ model.classifier.weight.t() + model.classifier.bias
    expected = (torch.logsumexp(logits, 1) - logits[torch.arange(5), labels]).mean()  # -log softmax of the label
    total, terms = model.loss(out, labels)
    assert list(terms) == ["cross_entropy"] and total.item() == pytest.approx(expected.item(), rel=1e-5)
    assert torch.equal(model.predict(images), logits.argmax(1))
    assert model.scheme == "batch"  # its own loss, no learned database codes


def test_refuses_what_it_cannot_train_on():
    with pytest.raises(ValueError, match="needs the option num_classes"):
        build("ce-classifier", BITS, backbone="small")
    model = build("ce-classifier", BITS, backbone="small", num_classes=CLASSES)
    out = model(torch.rand(2, 3, 16, 16))
    with pytest.raises(ValueError, match="num_classes=3 but saw class indices 0..3"):
        model.loss(out, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="one class index per image"):
        model.loss(out, torch.tensor([[1, 0, 0], [0, 1, 0]]))


def test_the_trainer_trains_it_and_its_database_codes_are_its_encoding():
    """Red, green or blue images: a few outer iterations of the existing trainer learn them (loss falls, every
    training image classified), and the database codes are the sign of the kept model's codes."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(60) % CLASSES
    images = torch.rand(60, 3, 16, 16, generator=generator) * 0.3
    images[torch.arange(60), labels] += 0.7
    data = ArrayDataset(images, labels)
    config = TrainConfig(model="ce-classifier", bits=BITS, backbone="small", model_options={"num_classes": CLASSES},
                         outer_iterations=4, n_samples=48, inner_epochs=2, batch_size=16, lr=0.01, optimizer="adam",
                         lr_decay_at=4, val_fraction=0.0, device="cpu", seed=0)
    torch.manual_seed(0)
    model = build("ce-classifier", BITS, backbone="small", num_classes=CLASSES)
    result = train(model, data, config, verbose=False)
    losses = [record["cross_entropy"] for record in result.history]
    assert losses[-1] < losses[0]
    assert torch.equal(result.model.predict(images), labels)
    assert torch.equal(result.db_codes, binary(encode_dataset(result.model, data)))


def test_a_study_gives_it_the_number_of_classes(tmp_path, monkeypatch):
    monkeypatch.setenv("A2LIB_DATA", str(tmp_path))
    study = Study(dataset="synth-dominoes", recipe="smoke", dataset_options={"n_train": 60, "n_test": 20})
    assert study.config("ce-classifier", 12).model_options == {"num_classes": 10}
