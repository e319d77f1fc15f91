"""The training plan (``a2lib plan``) and its parallel training (``a2lib train``): what each profile asks the cache
for, counted by hand from the profiles and notebooks; the local submitit executor with two workers; the notebooks
then train nothing. (That the plan names exactly the entries a smoke run of every notebook creates is checked in
``test_notebooks.py``, which runs them.)"""
import inspect
import json
import shutil
from pathlib import Path

import pytest

from a2lib import workbook
from a2lib.workbook.fanout import deal
from a2lib.workbook.plan import PlanItem, training_plan

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


@pytest.fixture(scope="module")
def smoke_plan(tmp_path_factory):
    return training_plan("smoke", notebooks_dir=NOTEBOOKS, cache_dir=tmp_path_factory.mktemp("empty-cache"))


def test_smoke_plan_holds_each_configuration_once_with_every_request(smoke_plan):
    # 01: its 4 methods (BASELINE, CE classifier, A²-Net, A²-Net++) x 2 seeds + BASELINE on the complex block x 2
    # seeds + A²-Net++ at η 0 and 5 x 2 seeds (η 0.5 is Table 1's A²-Net++ of the same seed) + BASELINE at escape
    # p 0.5 x 2 seeds (p 0 is Table 1's); 02 (2 seeds each): 4 methods + DPSH, HashNet, CSQ, OrthoCos (ITQ/SDH use
    # BASELINE), 5 new ablation steps (3 of 8 are Table 2 models), η 0.4 (0.1 is the default, 0 is A²-Net), 4 zero-shot (one per
    # claim of Table 4, and CSQ); 03-05 reuse 02's; 06: A²-Net on its own data options
    assert len(smoke_plan.items) == 4 * 2 + 2 + 2 * 2 + 2 + 2 * (8 + 5 + 1 + 4) + 1
    assert len({item.key for item in smoke_plan.items}) == len(smoke_plan.items)
    assert smoke_plan.count("train") == len(smoke_plan.items)  # data generated here, empty cache
    a2net = [i for i in smoke_plan.items if i.config.model == "a2net" and i.config.dataset == "synth-birds"
             and not i.config.dataset_options.get("size") and "decorrelation" not in i.config.model_options
             and "classes" not in i.config.dataset_options and i.config.seed == 0]
    assert len(a2net) == 1
    assert {r.split(" ")[0] for r in a2net[0].requests} == {"02", "03", "04", "05"}  # Table 2's A²-Net, reused
    assert {"02 table 2 synth-birds a2net/12 seed 0", "02 table 7 A²-Net seed 0", "03 shown a2net/12 seed 0",
            "05 table 2 synth-birds a2net/12 seed 0"} <= set(a2net[0].requests)
    assert all(item.image_passes > 0 and item.train_flops > 0 for item in smoke_plan.items)


@pytest.mark.slow
def test_full_plan_without_its_data_is_built_from_the_published_facts(tmp_path):
    plan = training_plan("full", notebooks_dir=NOTEBOOKS, data_root=tmp_path, cache_dir=tmp_path / "cache",
                         cost=False)
    # 01: 4 methods x 4 bits x 3 seeds + 4 complex-only BASELINEs x 3 seeds + 5 new η x 3 seeds (0.5 is Table 1's)
    # + 4 new escape fractions x 3 seeds (0 is Table 1's); 02: 5 data sets x (4 + 4) methods x 4 bits,
    # 5 new ablation steps, 4 new η values, 7 zero-shot methods x 4 bits; 03-06 reuse 02's
    assert len(plan.items) == 4 * 4 * 3 + 4 * 3 + 5 * 3 + 4 * 3 + 5 * 8 * 4 + 5 + 4 + 7 * 4
    assert plan.count("no data") == len(plan.items) and not plan.missing()
    by_kind = {(i.config.dataset, i.config.model, i.config.bits, "classes" in i.config.dataset_options): i.config
               for i in plan.items}
    assert by_kind[("cub200", "csq", 48, False)].model_options["num_classes"] == 200  # CUB-200's classes
    assert by_kind[("nabirds", "orthocos", 12, False)].model_options["num_classes"] == 555
    assert len(by_kind[("cub200", "a2net", 12, True)].dataset_options["classes"]) == 200 - 50  # 25% unseen
    assert "image_size" not in by_kind[("cub200", "a2net++", 48, False)].model_options  # 224 px: ResNet-50's own
    dominoes = by_kind[("mnist-cifar", "a2net", 12, False)]  # 3x64x32: ResNet-32's own size, η = 0.5
    assert (dominoes.backbone, dominoes.loss_weights.eta, "image_size" in dominoes.model_options) == ("resnet32", 0.5,
                                                                                                       False)
    assert list(tmp_path.iterdir()) == []  # nothing downloaded or written


def test_deal_gives_the_longest_entries_first_to_the_least_loaded_worker():
    items = []
    for flops in (3, 5, 3, 4, 3):
        item = PlanItem(config=None, key=str(len(items)), image_passes=1, forward_flops=flops)
        items.append(item)
    shares = deal(items, 2)
    assert [[i.forward_flops for i in share] for share in shares] == [[5, 3], [4, 3, 3]]
    assert deal(items[:1], 3) == [[items[0]]]  # no empty worker


def test_plan_and_train_refuse_bad_requests_before_anything_runs(capsys):
    assert workbook.main(["plan", "--profile", "smoke", "--tflops", "0"]) == 2
    assert workbook.main(["train", "--profile", "smoke", "--only", "06", "--executor", "ray"]) == 2
    assert workbook.main(["train", "--profile", "smoke", "--only", "06", "--gpus", "64"]) == 2
    errors = capsys.readouterr().err
    assert "--tflops must be a positive number" in errors and "unknown executor 'ray'" in errors
    assert "--gpus 64" in errors


@pytest.mark.skipif(shutil.which("sbatch") is not None, reason="this machine has SLURM")
def test_slurm_without_sbatch_says_where_to_run_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("A2LIB_ROOT", str(tmp_path))
    monkeypatch.setenv("A2LIB_CACHE", str(tmp_path / "cache"))
    request = ["train", "--profile", "smoke", "--only", "06", "--notebooks", str(NOTEBOOKS), "--executor", "slurm"]
    assert workbook.main(request + ["--dry-run"]) == 0  # one job per missing entry, nothing submitted
    assert "job 1: a2net/12" in capsys.readouterr().out
    assert workbook.main(request) == 2
    assert "needs SLURM's sbatch on PATH" in capsys.readouterr().err
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


@pytest.mark.slow
def test_local_executor_trains_the_missing_entries_with_two_workers_then_nothing_is_left_to_train(
        tmp_path, monkeypatch, capsys):
    """``a2lib train --executor local``: two submitit jobs fill the cache, and the plan then finds every entry there
    (that the notebooks load such entries instead of training them is the smoke run's test, in test_notebooks.py)."""
    monkeypatch.setenv("A2LIB_ROOT", str(tmp_path))
    monkeypatch.setenv("A2LIB_CACHE", str(tmp_path / "cache"))
    only = ["--only", "03", "--notebooks", str(NOTEBOOKS)]
    assert workbook.main(["train", "--profile", "smoke", *only, "--executor", "local", "--workers", "2"]) == 0
    output = capsys.readouterr().out
    assert "training 8 entries with 2 local CPU worker(s)" in output  # 4 methods x 2 seeds
    jobs = [p for p in (tmp_path / "runs" / "smoke" / "train-jobs").iterdir() if p.name.endswith("_result.pkl")]
    assert len(jobs) == 2  # two submitit jobs ran
    plan = training_plan("smoke", only=["03"], notebooks_dir=NOTEBOOKS)
    assert plan.count("cached") == len(plan.items) == 8
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cache").iterdir() if p.is_dir()}
    assert workbook.main(["train", "--profile", "smoke", *only, "--workers", "2"]) == 0  # nothing left to train
    assert "nothing to train" in capsys.readouterr().out
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cache").iterdir() if p.is_dir()}
    assert after == before  # no entry was added or rewritten


def test_the_quick_plan_is_exactly_what_the_notebooks_section_functions_ask_for(tmp_path, monkeypatch):
    from a2lib.studies import sections
    from a2lib.train import config_key

    asked, spied = {}, {}
    for stem, functions in sections.NOTEBOOK_SECTIONS.items():
        def spy(function, stem=stem):
            def wrapper(**arguments):
                found = function(**arguments)
                asked.setdefault(stem, []).append(function.__name__)
                spied.setdefault(stem, []).extend(found)
                return found
            wrapper.__signature__ = inspect.signature(function)
            return wrapper
        monkeypatch.setitem(sections.NOTEBOOK_SECTIONS, stem, tuple(spy(f) for f in functions))
    plan = training_plan("quick", notebooks_dir=NOTEBOOKS, cache_dir=tmp_path, cost=False)
    assert {stem: names for stem, names in asked.items()} == {
        "01_simplicity_bias": ["table1", "complex_reference", "dose_response", "escape"],
        "02_training": ["table2", "ablation", "eta_sweep", "zero_shot"], "03_activation_maps": ["cam_models"],
        "04_attribute_galleries": ["gallery_models"], "05_ndcg_attribute_matching": ["ndcg_models"],
        "06_retrieval_efficiency": ["timed"]}
    every = [request for found in spied.values() for request in found]
    assert {item.key for item in plan.items} == {config_key(request.config) for request in every}
    # one complex-block reference per seed of notebook 01; the four methods of Table 2 (plus ITQ and SDH, when
    # the profile has them, on BASELINE's features) in 02
    seeds = workbook.load_profile("quick").notebooks["01_simplicity_bias"]["seeds"]
    other = workbook.load_profile("quick").notebooks["02_training"]["other_methods"]
    assert sum(r.why.startswith("reference baseline/32 complex-only") for r in spied["01_simplicity_bias"]) == len(seeds)
    assert sum(r.why.startswith("table 2 synth-birds") for r in spied["02_training"]) == 4 + len(other)


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.stem)
def test_each_notebook_trains_through_its_section_functions_only(path):
    from a2lib.studies import sections

    code = "\n".join("".join(cell["source"]) for cell in json.loads(path.read_text())["cells"]
                     if cell["cell_type"] == "code")
    for function in sections.NOTEBOOK_SECTIONS[path.stem]:
        assert f"sections.{function.__name__}(" in code, f"{path.stem} does not train through {function.__name__}"
    assert code.count("sections.train_all(") == len(sections.NOTEBOOK_SECTIONS[path.stem])
    for other in (".train(", "load_or_train(", ".config("):
        assert other not in code, f"{path.stem} trains outside its sections ({other})"
