"""One call from a labelled dataset to a searchable hashing model: ``fit(train_set, method, bits, recipe)``.

``fit`` builds the ``TrainConfig`` from a named recipe (``a2lib.recipes``: backbone, model options, training numbers),
the data (image channels and size, number of classes, read from one item of ``train_set``) and keyword overrides
(``a2lib.train.assembly``, as ``Study.config`` does), then trains through the content-addressed cache
(``a2lib.train.load_or_train`` keyed by the config and the data's content) or, with ``cache=False``, directly
(``a2lib.train.train``). The ``Fitted`` result encodes images into ±1 codes (``a2lib.inference.binary``), evaluates a
test set with the tie-aware metrics of ``a2lib.evaluate``, puts the database codes in a ``a2lib.search.HammingIndex``
and saves to / loads from a folder.

``fit`` refuses what would train without meaning: a training set of one class (every pair similar, so any test mAP is
1.0) and options that have no effect for the method (``eta`` without an image reconstruction, the asymmetric
objective's fields for a method with its own loss, local-branch options with attention off). ``Fitted`` records the
shape and value scale of the training images (``a2lib.inputs``) and checks every set it encodes against them. A saved
folder carries a manifest (``a2lib.manifest``): loading checks that its files are the ones saved together and names
the one that is not; its torch files are read with ``weights_only=True`` (``a2lib.safe_load``).
"""
from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset

from . import evaluate as metrics_module
from . import recipes
from .atomic import restore
from .device import select_device
from .inference import binary, encode_dataset
from .inputs import InputSpec
from .manifest import MANIFEST_NAME, ManifestMismatch, read_manifest, unlisted, verify
from .models import list_models, option_defaults, option_names
from .safe_load import load_tensors
from .search import HammingIndex
from .train import (HISTORY_NAME, TrainConfig, TrainResult, build_model, dataset_labels, load_or_train, train,
                    write_result)
from .train.assembly import assemble, train_option_names
from .train.cache import CODES_KEYS, CODES_NAME, CONFIG_NAME, MODEL_NAME

DEFAULT_METHOD, DEFAULT_BITS, DEFAULT_RECIPE = "a2net++", 32, "quick"
DEFAULT_METRICS = ("map", "precision@10", "ndcg@20")
"""What ``Fitted.evaluate`` reports unless told: tie-aware mAP@all, precision@10 and, when the test set and the
training set both have ``attributes``, NDCG@20 of attribute matching (Table 8)."""
METRIC_PATTERN = re.compile(r"^(map|precision|ndcg)(?:@(\d+))?$")
"""``map``, ``map@K`` (mAP over the top K), ``precision@K``, ``ndcg@K``."""
ETA = "eta"
"""The override that sets η of Eq. (15) (``LossWeights.eta``), for every method (DPSH's own ``eta`` option goes
through ``model_options={"eta": ...}``)."""
FITTED_FORMAT, FITTED_VERSION, MANIFESTLESS_VERSION = "a2lib.fit.Fitted", 2, 1
"""The ``format`` and ``version`` recorded in a saved folder's config.json; version 1 folders (written before folders
carried a manifest and the training images' spec) still load, with a warning that their files cannot be checked."""
CONFIG_FILE, MODEL_FILE, CODES_FILE = CONFIG_NAME, MODEL_NAME, CODES_NAME
FILES = (CONFIG_FILE, MODEL_FILE, CODES_FILE, HISTORY_NAME)
"""A saved ``Fitted`` folder: the TrainConfig (and the training images' spec), the model's state dict, the database
codes (with their training-set indices, labels, attributes and the training set's fingerprint) and the training
history; and its ``manifest.json``."""
SAVED_CODES = (*CODES_KEYS, "db_attributes", "data_fingerprint")
"""What a saved folder's db_codes.pt holds: a cache entry's codes plus the attributes and the data fingerprint."""
ASYMMETRIC_ONLY = (ETA, "loss_weights", "similarity_reweight", "dcc_sweeps", "db_codes")
"""fit() options only the asymmetric objective of Eq. (13)/(15) reads (``a2lib.train.trainer``)."""
DECODER_OPTIONS = ("code_dim", "decoder_channels", "decoder_downsample")
"""Model options only A²-Net(++)'s image reconstruction reads (the decoder Ψ; η is the ``eta`` override)."""
LOCAL_BRANCH_OPTIONS = ("num_maps", "local_chunk", "checkpoint_local", "balance_parts")
"""A²-Net options only its attention (local) branch reads."""


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
    _check_classes(train_set)
    config = fit_config(train_set, method, bits, recipe, **overrides)
    _refuse_options_without_effect(config, overrides)
    if cache:
        result = load_or_train(config, cache_dir=cache_dir, verbose=verbose, retrain=retrain, dataset=train_set)
    else:
        result = train(build_model(config), train_set, config, verbose=verbose)
    attributes = getattr(train_set, "attributes", None)
    db_attributes = None if attributes is None else torch.as_tensor(attributes)[result.db_indices].float()
    return Fitted(result, db_attributes, InputSpec.of(train_set))


def _check_classes(train_set: Dataset) -> None:
    """A training set whose items all share a label trains nothing (every pair is similar) and scores mAP 1.0 on
    any test set of that label: an error."""
    labels = dataset_labels(train_set)
    one_class = len(labels) and (bool(labels.bool().all(0).any()) if labels.dim() == 2 else
                                 int(labels.unique().numel()) < 2)
    if one_class:
        names = getattr(train_set, "class_names", None)
        shared = f" ({names[int(labels[0])]!r})" if names and labels.dim() == 1 else ""
        raise ValueError(f"every training item has the same class{shared}: hashing learns which images share a "
                         "class, so one class teaches it nothing and any test set of it scores mAP 1.0. Give at "
                         "least two classes (a folder root holds one sub-folder per class)")


def _refuse_options_without_effect(config: TrainConfig, overrides: dict) -> None:
    """An error naming each option given to fit() that the chosen method never reads, with why and the fix."""
    method = config.model
    given = set(overrides)
    model_given = (given - {ETA}) | set(overrides.get("model_options") or {})
    options = {**option_defaults(method), **config.model_options}
    reasons = []
    if method in list_models(asymmetric=False):
        reasons += [f"{name} (only the asymmetric objective of Eq. 15 reads it; {method!r} trains with its own loss)"
                    for name in sorted(given & set(ASYMMETRIC_ONLY))]
    elif options.get("image_reconstruction", "none") == "none":
        fix = ("image_reconstruction is 'none' here: set it to 'both'" if "image_reconstruction" in options else
               f"{method!r} has none: use method='a2net++'")
        reasons += [f"{name} (only the image reconstruction of A²-Net++ reads it; {fix})"
                    for name in sorted((given & {ETA}) | (model_given & set(DECODER_OPTIONS)))]
    if options.get("attention") is False:
        reasons += [f"{name} (only the attention branch reads it, and attention=False)"
                    for name in sorted(model_given & set(LOCAL_BRANCH_OPTIONS))]
    if reasons:
        hint = " (DPSH's own quantisation weight is model_options={'eta': ...})" if method == "dpsh" else ""
        raise ValueError(f"fit() option(s) without effect for method {method!r}: {'; '.join(reasons)}. Drop them or "
                         f"choose a method that uses them{hint}")


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
    input_spec: InputSpec | None = None
    """The training images' shape and value scale (``a2lib.inputs``); None for a folder saved without it."""

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
        """(n, bits) float32 ±1 codes of ``dataset``'s images (``a2lib.inference.binary`` of the model's encoding);
        images of another shape than the training images are refused, of another value scale warned about."""
        if self.input_spec is not None:
            self.input_spec.check(dataset, "the dataset to encode")
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
        """Write this result to the folder ``path`` (``FILES`` and a manifest), atomically; an existing folder is
        replaced only when ``Fitted.save`` wrote it and it holds nothing else (another file there is an error naming
        it, never deleted)."""
        path = Path(path)
        if path.exists():
            _check_replaceable(path)
        meta = {"format": FITTED_FORMAT, "version": FITTED_VERSION, "config": self.config.to_dict(),
                "input": None if self.input_spec is None else self.input_spec.to_dict()}
        write_result(self.result, path, meta, db_attributes=self.db_attributes,
                     data_fingerprint=self.result.data_fingerprint)
        return path

    @classmethod
    def load(cls, path, config: TrainConfig | None = None, device=None) -> "Fitted":
        """The result saved in folder ``path``: the model rebuilt from its config.json with model.pt's weights.

        Every file is checked against the folder's manifest first (a file truncated, changed or copied from another
        run is an error naming it). ``config``: the TrainConfig expected; a folder holding another one is an error
        naming the differing fields. ``device``: where the model goes (None: the stored config's ``device``).
        """
        path = Path(path)
        restore(path)
        if not path.is_dir():
            raise FileNotFoundError(f"no saved Fitted folder at {path}; write one with Fitted.save(path)")
        missing = [name for name in FILES if not (path / name).is_file()]
        if missing:
            raise FileNotFoundError(f"{path} lacks {', '.join(missing)}; a Fitted folder holds {', '.join(FILES)}. "
                                    "Save it again with Fitted.save(path)")
        meta = _verified_meta(path)
        stored = TrainConfig.from_dict(meta["config"])
        if config is not None:
            differences = _config_differences(stored, config)
            if differences:
                raise ValueError(f"{path} holds a model of another config ({'; '.join(differences)}); load the "
                                 "folder without config= or fit the requested config")
        model = build_model(stored)
        try:
            model.load_state_dict(load_tensors(path / MODEL_FILE))
        except RuntimeError as error:
            raise ValueError(f"{path / MODEL_FILE} does not fit the model of {path / CONFIG_FILE} "
                             f"({stored.model}, {stored.bits} bits): the files come from different runs; "
                             "save the result again") from error
        model.to(select_device(device or stored.device, verbose=False)).eval()
        codes = load_tensors(path / CODES_FILE)
        missing = sorted(set(SAVED_CODES) - set(codes)) if isinstance(codes, dict) else list(SAVED_CODES)
        if missing:
            raise ValueError(f"{path / CODES_FILE} lacks {', '.join(missing)}; save the result again")
        if codes["db_codes"].shape[1:] != (stored.bits,):
            raise ValueError(f"{path / CODES_FILE} holds {tuple(codes['db_codes'].shape)} codes but the config says "
                             f"{stored.bits} bits; the files come from different runs")
        history = _read_json(path / HISTORY_NAME, path)
        result = TrainResult(model, codes["db_codes"], codes["db_indices"], codes["val_indices"], codes["db_labels"],
                             history, codes["best_iteration"], codes["best_val_map"], stored,
                             codes["data_fingerprint"])
        spec = meta.get("input")
        return cls(result, codes["db_attributes"], None if spec is None else InputSpec.from_dict(spec))


def _check_replaceable(path: Path) -> None:
    """Saving over ``path`` is allowed only for an empty folder or one ``Fitted.save`` wrote that holds nothing else;
    otherwise an error naming what is in the way."""
    if not path.is_dir():
        raise FileExistsError(f"{path} is a file; choose a folder path for Fitted.save")
    if not any(path.iterdir()):
        return
    config_file = path / CONFIG_FILE
    if not (config_file.is_file() and _read_json(config_file, path).get("format") == FITTED_FORMAT):
        raise FileExistsError(f"{path} exists and is not a folder written by Fitted.save; choose a new path")
    try:
        manifest = read_manifest(path)
    except ManifestMismatch:
        manifest = None
    foreign = unlisted(path, manifest, FILES)
    if foreign:
        raise FileExistsError(f"{path} holds files Fitted.save did not write: {', '.join(foreign)}; saving replaces "
                              "the whole folder, so move them out first or save to another path")


def _verified_meta(path: Path) -> dict:
    """config.json of the folder at ``path``, read after every file is checked against the folder's manifest (a
    version 1 folder, which has none, loads with a warning)."""
    try:
        manifest = read_manifest(path)
        if manifest is not None:
            verify(path, manifest)
    except ManifestMismatch as mismatch:
        raise ValueError(f"{mismatch}. {path} is not the folder Fitted.save wrote; save the result again (and copy "
                         "whole folders, never single files between them)") from mismatch
    meta = _read_json(path / CONFIG_FILE, path)
    version = meta.get("version")
    if meta.get("format") != FITTED_FORMAT or version not in (FITTED_VERSION, MANIFESTLESS_VERSION):
        raise ValueError(f"{path} is not a folder that Fitted.save wrote ({CONFIG_FILE} has format "
                         f"{meta.get('format')!r}, version {version!r}; expected {FITTED_FORMAT!r} version "
                         f"{FITTED_VERSION}): pass the folder given to Fitted.save (a cache entry of the model cache "
                         "is read by a2lib.train.load_or_train, not Fitted.load)")
    if manifest is None and version == FITTED_VERSION:
        raise ValueError(f"{path} lacks its {MANIFEST_NAME} (every folder Fitted.save writes has one), so its files "
                         "cannot be checked to belong together; save the result again")
    if manifest is None:
        warnings.warn(f"{path} was saved by an earlier a2lib, without a {MANIFEST_NAME}: whether its files belong "
                      "together cannot be checked; load it once and save it again to add one", stacklevel=3)
    elif manifest.get("config") != meta["config"]:
        raise ValueError(f"{path / MANIFEST_NAME} was written for another config than {path / CONFIG_FILE}; save the "
                         "result again")
    return meta


__all__ = ["DEFAULT_METRICS", "FILES", "Fitted", "fit", "fit_config"]
