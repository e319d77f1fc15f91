"""One call from a labelled dataset to a searchable hashing model: ``fit(train_set, method, bits, recipe)``.

``fit`` builds the ``TrainConfig`` from a named recipe (``a2lib.recipes``: backbone, model options, training numbers),
the data (image channels and size, number of classes, read from one item of ``train_set``) and keyword overrides
(``a2lib.train.assembly``, as ``Study.config`` does), then trains through the content-addressed cache
(``a2lib.train.load_or_train`` keyed by the config and the data's content) or, with ``cache=False``, directly
(``a2lib.train.train``). The ``Fitted`` result encodes images into ±1 codes (``a2lib.inference.binary``), evaluates a
test set with the tie-aware metrics of ``a2lib.evaluate``, puts the database codes in a ``a2lib.search.HammingIndex``
and saves to / loads from a folder.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset

from . import evaluate as metrics_module
from . import recipes
from .device import select_device
from .inference import binary, encode_dataset
from .models import option_names
from .search import HammingIndex
from .train import (HISTORY_NAME, TrainConfig, TrainResult, build_model, dataset_labels, load_or_train, train,
                    write_result)
from .train.assembly import assemble, train_option_names
from .train.cache import CODES_NAME, CONFIG_NAME, MODEL_NAME

DEFAULT_METHOD, DEFAULT_BITS, DEFAULT_RECIPE = "a2net++", 32, "quick"
DEFAULT_METRICS = ("map", "precision@10", "ndcg@20")
"""What ``Fitted.evaluate`` reports unless told: tie-aware mAP@all, precision@10 and, when the test set and the
training set both have ``attributes``, NDCG@20 of attribute matching (Table 8)."""
METRIC_PATTERN = re.compile(r"^(map|precision|ndcg)(?:@(\d+))?$")
"""``map``, ``map@K`` (mAP over the top K), ``precision@K``, ``ndcg@K``."""
ETA = "eta"
"""The override that sets η of Eq. (15) (``LossWeights.eta``), for every method (DPSH's own ``eta`` option goes
through ``model_options={"eta": ...}``)."""
FITTED_FORMAT, FITTED_VERSION = "a2lib.fit.Fitted", 1
"""The ``format`` and ``version`` recorded in a saved folder's config.json."""
CONFIG_FILE, MODEL_FILE, CODES_FILE = CONFIG_NAME, MODEL_NAME, CODES_NAME
FILES = (CONFIG_FILE, MODEL_FILE, CODES_FILE, HISTORY_NAME)
"""A saved ``Fitted`` folder: the TrainConfig, the model's state dict, the database codes (with their training-set
indices, labels, attributes and the training set's fingerprint) and the training history."""


def _dataset_name(dataset: Dataset) -> str:
    """What ``TrainConfig.dataset`` records for a dataset object: its ``name`` when it has one, else its type."""
    return str(getattr(dataset, "name", None) or type(dataset).__name__)


def _route(method: str, overrides: dict) -> tuple[dict, dict]:
    """(train options, model options) from ``fit``'s keyword overrides, less ``eta``; an unknown key lists the valid
    ones. TrainConfig fields win over a model option of the same name (CSQ's ``seed``)."""
    train_names, model_names = train_option_names(), option_names(method)
    unknown = sorted(set(overrides) - set(train_names) - set(model_names) - {ETA})
    if unknown:
        raise ValueError(
            f"unknown fit() option(s) {unknown} for method {method!r}. Valid: TrainConfig fields "
            f"{', '.join(sorted(train_names))}; model options of {method!r}: {', '.join(sorted(model_names))}; "
            f"and {ETA} (η of Eq. 15)")
    train_options = {k: v for k, v in overrides.items() if k in train_names}
    model_options = {k: v for k, v in overrides.items() if k not in train_names and k != ETA}
    return train_options, model_options


def fit_config(train_set: Dataset, method: str = DEFAULT_METHOD, bits: int = DEFAULT_BITS,
               recipe: str | recipes.Recipe = DEFAULT_RECIPE, **overrides) -> TrainConfig:
    """The TrainConfig ``fit`` trains with: the recipe's numbers, the data's image options, then ``overrides``
    (``a2lib.train.assembly.assemble``)."""
    chosen = recipes.get(recipe)
    train_options, model_options = _route(method, overrides)
    return assemble(method, bits, train_set, dataset=_dataset_name(train_set), recipe=chosen,
                    model_options=model_options, train_options=train_options, eta=overrides.get(ETA))


def fit(train_set: Dataset, method: str = DEFAULT_METHOD, bits: int = DEFAULT_BITS,
        recipe: str | recipes.Recipe = DEFAULT_RECIPE, *, cache: bool = True, cache_dir=None, retrain: bool = False,
        verbose: bool = True, **overrides) -> "Fitted":
    """Train ``method`` (``a2lib.models`` name) at ``bits`` on ``train_set`` following ``recipe``.

    ``train_set``: items ``(float CxHxW image, label)`` with ``.labels`` (``a2lib.data.load``, ``ArrayDataset``).
    ``overrides``: TrainConfig fields (``outer_iterations=4``, ``backbone="resnet50"``, ``seed=1``), model options
    (``num_maps=8``), ``model_options={...}`` and ``eta=`` (η of Eq. 15). ``cache``: load or train through the
    content-addressed cache in ``cache_dir`` (None: ``a2lib.folders.cache_root()``), keyed by the config and the
    data's content; ``retrain=True`` replaces the entry. ``cache=False`` trains without reading or writing it.
    """
    config = fit_config(train_set, method, bits, recipe, **overrides)
    if cache:
        result = load_or_train(config, cache_dir=cache_dir, verbose=verbose, retrain=retrain, dataset=train_set)
    else:
        result = train(build_model(config), train_set, config, verbose=verbose)
    attributes = getattr(train_set, "attributes", None)
    db_attributes = None if attributes is None else torch.as_tensor(attributes)[result.db_indices].float()
    return Fitted(result, db_attributes)


def _parse_metric(metric: str) -> tuple[str, int | None]:
    match = METRIC_PATTERN.match(str(metric))
    if not match or (match[1] != "map" and match[2] is None) or (match[2] is not None and int(match[2]) < 1):
        raise ValueError(f"unknown metric {metric!r}; use 'map', 'map@K', 'precision@K' or 'ndcg@K' with K >= 1")
    return match[1], None if match[2] is None else int(match[2])


def _read_json(path: Path, folder: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); {folder} is not a folder written by Fitted.save") \
            from error


def _config_differences(stored: TrainConfig, expected: TrainConfig) -> list[str]:
    a, b = stored.key_dict(), expected.key_dict()
    return [f"{name}: folder {a.get(name)!r} vs requested {b.get(name)!r}" for name in sorted(set(a) | set(b))
            if a.get(name) != b.get(name)]


@dataclass(repr=False)
class Fitted:
    """A trained model with its database: the training set's items minus the validation ones (``db_indices``), as
    learned codes B (``db_codes``, the paper's protocol), labels and, when the data has them, attributes."""

    result: TrainResult
    db_attributes: Tensor | None = None

    @property
    def model(self) -> torch.nn.Module:
        return self.result.model

    @property
    def config(self) -> TrainConfig:
        return self.result.config

    @property
    def bits(self) -> int:
        return self.result.config.bits

    @property
    def db_codes(self) -> Tensor:
        """(N_db, bits) ±1 database codes; row i is training item ``db_indices[i]``."""
        return self.result.db_codes

    @property
    def db_indices(self) -> Tensor:
        """Training-set index of each database code (what ``index().search`` positions refer to)."""
        return self.result.db_indices

    @property
    def db_labels(self) -> Tensor:
        return self.result.db_labels

    @property
    def history(self) -> list[dict]:
        return self.result.history

    def __repr__(self) -> str:
        return (f"Fitted(method={self.config.model!r}, bits={self.bits}, backbone={self.config.backbone!r}, "
                f"database={len(self.db_codes)}, best_val_map={self.result.best_val_map})")

    def encode(self, dataset: Dataset, batch_size: int | None = None, device=None) -> Tensor:
        """(n, bits) float32 ±1 codes of ``dataset``'s images (``a2lib.inference.binary`` of the model's encoding)."""
        codes = encode_dataset(self.model, dataset, batch_size or self.config.eval_batch_size, device)
        return binary(codes, "encoded codes")

    def evaluate(self, test_set: Dataset, metrics=None, ties: str = "average") -> dict[str, float]:
        """``{metric: value}`` of ``test_set``'s encoded images as queries against the database codes.

        ``metrics``: names like ``"map"``, ``"map@100"``, ``"precision@10"``, ``"ndcg@20"`` (``a2lib.evaluate``,
        tie-aware unless ``ties="legacy"``); None is ``DEFAULT_METRICS``, whose NDCG is left out when either set
        lacks attributes (NDCG asked for by name then is an error).
        """
        if isinstance(metrics, str):
            metrics = [metrics]
        has_attributes = self.db_attributes is not None and getattr(test_set, "attributes", None) is not None
        if metrics is None:
            metrics = [m for m in DEFAULT_METRICS if has_attributes or _parse_metric(m)[0] != "ndcg"]
        parsed = {metric: _parse_metric(metric) for metric in metrics}
        if not has_attributes and any(name == "ndcg" for name, _ in parsed.values()):
            missing = "the test set" if self.db_attributes is not None else "the training set"
            raise ValueError(f"NDCG needs attributes on both sets, but {missing} has no .attributes; "
                             "drop the ndcg metrics or use a dataset with attributes")
        queries = self.encode(test_set)
        labels = dataset_labels(test_set)
        values = {}
        for metric, (name, k) in parsed.items():
            if name == "map":
                values[metric] = metrics_module.mean_average_precision(queries, self.db_codes, labels,
                                                                       self.db_labels, topk=k, ties=ties)
            elif name == "precision":
                values[metric] = metrics_module.precision_at_k(queries, self.db_codes, labels, self.db_labels, k,
                                                               ties=ties)
            else:
                values[metric] = metrics_module.ndcg_at_k(queries, self.db_codes, test_set.attributes,
                                                          self.db_attributes, k, ties=ties)
        return values

    def index(self, kind: str = "exact", **options) -> HammingIndex:
        """A ``HammingIndex`` (``kind`` and ``options`` as there) holding the database codes in order; a search's
        positions map to training items through ``db_indices``."""
        return HammingIndex(self.bits, kind, **options).add(self.db_codes)

    def save(self, path) -> Path:
        """Write this result to the folder ``path`` (``FILES``), atomically; an existing folder is replaced only
        when ``Fitted.save`` wrote it."""
        path = Path(path)
        if path.exists():
            empty = path.is_dir() and not any(path.iterdir())
            config_file = path / CONFIG_FILE
            ours = config_file.is_file() and _read_json(config_file, path).get("format") == FITTED_FORMAT
            if not (empty or ours):
                raise FileExistsError(f"{path} exists and is not a folder written by Fitted.save; choose a new path")
        meta = {"format": FITTED_FORMAT, "version": FITTED_VERSION, "config": self.config.to_dict()}
        write_result(self.result, path, meta, db_attributes=self.db_attributes,
                     data_fingerprint=self.result.data_fingerprint)
        return path

    @classmethod
    def load(cls, path, config: TrainConfig | None = None, device=None) -> "Fitted":
        """The result saved in folder ``path``: the model rebuilt from its config.json with model.pt's weights.

        ``config``: the TrainConfig expected; a folder holding another one is an error naming the differing fields.
        ``device``: where the model goes (None: the stored config's ``device``).
        """
        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"no saved Fitted folder at {path}; write one with Fitted.save(path)")
        missing = [name for name in FILES if not (path / name).is_file()]
        if missing:
            raise FileNotFoundError(f"{path} lacks {', '.join(missing)}; a Fitted folder holds {', '.join(FILES)}. "
                                    "Save it again with Fitted.save(path)")
        meta = _read_json(path / CONFIG_FILE, path)
        if meta.get("format") != FITTED_FORMAT or meta.get("version") != FITTED_VERSION:
            raise ValueError(f"{path / CONFIG_FILE} is not a {FITTED_FORMAT} version {FITTED_VERSION} folder "
                             f"(format {meta.get('format')!r}, version {meta.get('version')!r}); save it again")
        stored = TrainConfig.from_dict(meta["config"])
        if config is not None:
            differences = _config_differences(stored, config)
            if differences:
                raise ValueError(f"{path} holds a model of another config ({'; '.join(differences)}); load the "
                                 "folder without config= or fit the requested config")
        model = build_model(stored)
        try:
            model.load_state_dict(torch.load(path / MODEL_FILE, map_location="cpu", weights_only=True))
        except RuntimeError as error:
            raise ValueError(f"{path / MODEL_FILE} does not fit the model of {path / CONFIG_FILE} "
                             f"({stored.model}, {stored.bits} bits): the files come from different runs; "
                             "save the result again") from error
        model.to(select_device(device or stored.device, verbose=False)).eval()
        codes = torch.load(path / CODES_FILE, map_location="cpu", weights_only=True)
        if codes["db_codes"].shape[1:] != (stored.bits,):
            raise ValueError(f"{path / CODES_FILE} holds {tuple(codes['db_codes'].shape)} codes but the config says "
                             f"{stored.bits} bits; the files come from different runs")
        history = _read_json(path / HISTORY_NAME, path)
        result = TrainResult(model, codes["db_codes"], codes["db_indices"], codes["val_indices"], codes["db_labels"],
                             history, codes["best_iteration"], codes["best_val_map"], stored,
                             codes["data_fingerprint"])
        return cls(result, codes["db_attributes"])


__all__ = ["DEFAULT_METRICS", "FILES", "Fitted", "fit", "fit_config"]
