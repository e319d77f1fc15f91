"""Linear probes: does a trained model's frozen representation hold a class that its codes may ignore?

A scikit-learn logistic regression is fitted on the representation of one labelled set and scored on another; the
network is never updated. ``representation="features"`` reads ``HashOutput.features`` (BASELINE and the hashing
baselines: the pooled backbone features; A²-Net(++): the holistic feature x; the same features ITQ/SDH hash),
``"codes"`` the real-valued codes tanh(Wx). Features are standardised on the probe's training set first, so the
probe's regularisation treats every feature dimension alike.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from .inference import DEFAULT_BATCH, encode_dataset
from .shallow import extract_features

REPRESENTATIONS = ("features", "codes")


@dataclass(frozen=True)
class ProbeOptions:
    """The logistic regression's inverse regularisation ``C`` (scikit-learn's default), iteration cap and seed."""

    C: float = 1.0
    max_iter: int = 1000
    seed: int = 0


def _network(model_or_result) -> torch.nn.Module:
    """The network of a ``TrainResult`` (its ``model``) or the model itself."""
    network = getattr(model_or_result, "model", model_or_result)
    if not isinstance(network, torch.nn.Module):
        raise ValueError(f"expected a trained model or a TrainResult, got {type(model_or_result).__name__}")
    return network


def representation_of(model_or_result, dataset: Dataset, representation: str = "features",
                      batch_size: int = DEFAULT_BATCH, device=None) -> Tensor:
    """(n, d) float32 frozen ``representation`` ("features" or "codes") of every item of ``dataset``."""
    if representation not in REPRESENTATIONS:
        raise ValueError(f"unknown representation {representation!r}; choose one of {', '.join(REPRESENTATIONS)}")
    network = _network(model_or_result)
    if representation == "codes":
        return encode_dataset(network, dataset, batch_size, device)
    return extract_features(network, dataset, batch_size, device)


def _targets(dataset: Dataset, target: str) -> np.ndarray:
    labels = getattr(dataset, target, None)
    if labels is None:
        raise ValueError(f"the dataset has no {target!r} attribute to probe; use target='labels' or one of its "
                         "per-item class attributes (dominoes: 'simple_labels', 'complex_labels')")
    labels = torch.as_tensor(labels)
    if labels.dim() != 1:
        raise ValueError(f"the probe needs one class index per item in {target!r}, got shape {tuple(labels.shape)}")
    return labels.long().numpy()


def linear_probe(train_features, train_labels, test_features, test_labels,
                 options: ProbeOptions = ProbeOptions()) -> float:
    """Test accuracy of a logistic regression fitted on (standardised) ``train_features`` -> ``train_labels``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_labels, test_labels = np.asarray(train_labels), np.asarray(test_labels)
    if len(np.unique(train_labels)) < 2:
        raise ValueError("the probe's training set holds a single class; it needs at least two")
    if len(test_labels) == 0:
        raise ValueError("the probe's test set is empty")
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=options.C, max_iter=options.max_iter,
                                                               random_state=options.seed))
    probe.fit(np.asarray(train_features, dtype=np.float64), train_labels)
    return float(probe.score(np.asarray(test_features, dtype=np.float64), test_labels))


def probe_accuracy(model_or_result, train_set: Dataset, test_set: Dataset, representation: str = "features",
                   target: str = "labels", options: ProbeOptions = ProbeOptions(),
                   batch_size: int = DEFAULT_BATCH, device=None) -> float:
    """Accuracy on ``test_set`` of a linear probe fitted on ``train_set`` that reads the class in the datasets'
    attribute ``target`` (e.g. a dominoes set's ``complex_labels``) from the model's frozen ``representation``.

    Chance is about 1 / number of classes; an accuracy near 1 says the class is linearly readable there."""
    train_labels, test_labels = _targets(train_set, target), _targets(test_set, target)
    keep_train, keep_test = train_labels >= 0, test_labels >= 0  # a blanked block's class is -1
    train_x = representation_of(model_or_result, train_set, representation, batch_size, device).numpy()
    test_x = representation_of(model_or_result, test_set, representation, batch_size, device).numpy()
    return linear_probe(train_x[keep_train], train_labels[keep_train], test_x[keep_test], test_labels[keep_test],
                        options)


__all__ = ["REPRESENTATIONS", "ProbeOptions", "linear_probe", "probe_accuracy", "representation_of"]
