"""The registries: data sets (a2lib.data.DATASETS), search methods (a2lib.efficiency.SEARCH_METHODS) and HammingIndex
kinds (a2lib.index_kinds.INDEX_KINDS): every entry complete, no name twice, the readers reading them."""
import pytest

from a2lib import data, efficiency, index_kinds
from a2lib.data.registry import DataFacts, register_dataset
from a2lib.registry import Registry
from a2lib.studies import paper
from a2lib.workbook import plan


def test_a_registry_refuses_a_name_twice_and_lists_the_valid_names():
    registry = Registry("thing", "unknown thing {name!r}; choose one of {names}")
    registry.add("a", 1)
    registry.add("b", 2)
    with pytest.raises(ValueError, match="thing 'a' is registered twice"):
        registry.add("a", 3)
    assert registry["a"] == 1 and list(registry) == ["a", "b"]
    with pytest.raises(ValueError, match="unknown thing 'c'; choose one of a, b"):
        registry.lookup("c")
    with pytest.raises(ValueError, match="non-empty string name"):
        registry.add("", 4)


@pytest.mark.parametrize("name", list(data.DATASETS))
def test_every_data_set_but_the_users_folder_states_its_facts(name):
    entry = data.DATASETS[name]
    assert entry.name == name and callable(entry.loader)
    if entry.source == "user":
        assert entry.facts is None
    else:
        assert isinstance(entry.facts, DataFacts)


def test_registering_a_data_set_without_facts_or_twice_is_an_error():
    with pytest.raises(ValueError, match="'my-set' \\(published\\) has no facts: pass facts=DataFacts"):
        register_dataset("my-set", source="published")
    with pytest.raises(ValueError, match="'my-folder' \\(user\\) is the user's own data"):
        register_dataset("my-folder", source="user", facts=DataFacts(2, 10, (3, 8, 8)))
    with pytest.raises(ValueError, match="unknown source 'web'"):
        register_dataset("my-set", source="web")
    with pytest.raises(ValueError, match="dataset 'cub200' is registered twice"):
        register_dataset("cub200", source="user")(lambda root, split: None)
    with pytest.raises(ValueError, match="positive integer num_classes"):
        DataFacts(0, 10, (3, 8, 8))
    with pytest.raises(ValueError, match="image_shape"):
        DataFacts(2, 10, (8, 8))
    assert "my-set" not in data.DATASETS and "my-folder" not in data.DATASETS


@pytest.mark.parametrize("name", [n for n, e in data.DATASETS.items() if e.source == "embedded"])
def test_embedded_facts_are_what_the_loader_builds_with_its_defaults(name):
    facts = data.DATASETS[name].facts
    train = data.load(name, "train")
    assert (facts.num_classes, facts.train_items) == (train.num_classes, len(train))
    assert tuple(train[0][0].shape) == facts.image_shape


def test_the_plan_and_the_paper_read_the_data_set_registry():
    published = {name for name, entry in data.DATASETS.items() if entry.source == "published"}
    assert set(plan.PUBLISHED_DATA) == published == {"cub200", "aircraft", "food101", "nabirds", "vegfru",
                                                      "mnist-cifar"}
    assert all(plan.PUBLISHED_DATA[name] is data.DATASETS[name].facts for name in published)
    assert paper.display_name("cub200") == "CUB200-2011" and paper.display_name("synth-birds") == "synth-birds"
    assert paper.PAPER_DATASETS == {name: entry.paper_name for name, entry in data.DATASETS.items()
                                    if entry.paper_name}


def test_search_methods_registry_gives_table_6_its_rows_and_build_methods_its_defaults():
    assert list(paper.PAPER_SEARCH_METHODS) == list(paper.TABLE6)
    assert efficiency.DEFAULT_METHODS == ("linear", "balltree", "kdtree", "pq", "hamming", "faiss-binary-flat")
    assert {"hamming-ivf", "hamming-hnsw", "hamming-mih"} <= set(efficiency.SEARCH_METHODS)
    with pytest.raises(ValueError, match="search method 'pq' is registered twice"):
        efficiency.search_method("pq")(lambda features, packed, bits, options: None)
    with pytest.raises(ValueError, match=r"unknown method\(s\) \['lsh'\]; choose from linear, balltree"):
        efficiency.build_methods(efficiency.synthetic_features(10, 4), [[1.0] * 8] * 10, 8, ["lsh"])


def test_every_index_kind_is_registered_with_its_faiss_class_and_checked_options():
    assert list(index_kinds.INDEX_KINDS) == ["exact", "mih", "ivf", "hnsw"]
    for name, kind in index_kinds.INDEX_KINDS.items():
        assert kind.name == name and isinstance(kind.faiss_class, type) and isinstance(kind.defaults, dict)
    with pytest.raises(ValueError, match="HammingIndex kind 'exact' is registered twice"):
        index_kinds.index_kind("exact")(type("Other", (index_kinds.IndexKind,), {}))
    with pytest.raises(ValueError, match="unknown HammingIndex kind 'lsh'; choose one of exact, mih, ivf, hnsw"):
        index_kinds.INDEX_KINDS.lookup("lsh")
    with pytest.raises(ValueError, match="nprobe must be a positive integer, got 2.5"):
        index_kinds.INDEX_KINDS["ivf"](48, 48, nprobe=2.5)
