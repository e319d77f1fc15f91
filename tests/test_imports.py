"""The import graph of a2lib has no cycle, and importing the library never resolves folders from the cwd.

The graph is read from the source with ``ast`` (every ``import``, also inside functions), relative imports resolved;
importing ``a.b.c`` also runs the packages ``a.b`` and ``a`` first, so an import counts as an edge to each package
above its target that is not already above the importer.
"""
import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "a2lib"
ENV_VARIABLES = ("A2LIB_DATA", "A2LIB_CACHE", "A2LIB_ROOT", "XDG_CACHE_HOME")


def module_names(package_dir: Path) -> dict[str, tuple[Path, bool]]:
    """``{dotted name: (source file, is a package)}`` for every module under ``package_dir``."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        modules[".".join(parts)] = (path, is_package)
    return modules


def _known(name: str, modules) -> str | None:
    """``name`` or its nearest enclosing module that exists (``a2lib.data.load`` -> ``a2lib.data``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def imported_modules(name: str, path: Path, is_package: bool, modules) -> set[str]:
    """The modules of ``modules`` that importing ``name`` runs directly (with the packages above each target)."""
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = name if is_package else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{node.module}" if node.module else package
            else:
                base = node.module
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)  # ``from pkg import submodule``
    found = {_known(target, modules) for target in targets} - {None}
    own = set(_ancestors(name))
    edges = set()
    for target in found:
        edges.update({target, *_ancestors(target)} - own)
    return edges - {name}


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    modules = module_names(package_dir)
    return {name: imported_modules(name, path, is_package, modules) for name, (path, is_package) in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (``[a, b, ..., a]``) per strongly connected component with more than one module (Tarjan)."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_through(component, graph) for component in components]


def _cycle_through(component: list[str], graph) -> list[str]:
    """A shortest path from the component's first module back to itself, inside the component (breadth first)."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node] & members):
            if nxt == start:
                return paths[node] + [start]
            if nxt not in paths:
                paths[nxt] = paths[node] + [nxt]
                queue.append(nxt)
    raise AssertionError(f"no cycle through {start} in {component}")


def test_a2lib_imports_have_no_cycle():
    graph = import_graph(PACKAGE_DIR)
    assert {"a2lib.train", "a2lib.train.cache", "a2lib.inference"} <= set(graph)
    found = cycles(graph)
    assert not found, "import cycles in a2lib:\n" + "\n".join(" -> ".join(cycle) for cycle in found)


def test_the_train_package_imports_one_way():
    graph = import_graph(PACKAGE_DIR)
    assert "a2lib.train" not in graph["a2lib.inference"] and "a2lib.train" not in graph["a2lib.evaluate"]
    assert graph["a2lib.train.config"] & {"a2lib.train.cache", "a2lib.train.trainer"} == set()
    assert "a2lib.train.cache" not in graph["a2lib.train.trainer"]


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return root / "pkg"


def test_the_checker_finds_cycles_through_relative_function_level_and_package_imports(tmp_path):
    package = _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from .sub.b import thing\n",
        "pkg/sub/__init__.py": "from . import c\n",
        "pkg/sub/b.py": "thing = 1\n",
        "pkg/sub/c.py": "def late():\n    from ..a import thing\n    return thing\n",
        "pkg/d.py": "import pkg.sub.b\n",
    })
    graph = import_graph(package)
    assert graph["pkg.a"] == {"pkg.sub", "pkg.sub.b"}  # importing pkg.sub.b runs pkg/sub/__init__.py first
    assert graph["pkg.sub"] == {"pkg.sub.c"} and graph["pkg.sub.c"] == {"pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.sub", "pkg.sub.c", "pkg.a"]]
    (package / "sub" / "c.py").write_text("import os\n")
    assert cycles(import_graph(package)) == []


PROBE = """
import json, os
import a2lib.data
import a2lib.train
from a2lib import folders
from a2lib.train import TrainConfig, cache
errors = {}
for what, call in {"data.load": lambda: a2lib.data.load("folder", "train"),
                   "train.cache.load_dataset": lambda: cache.load_dataset(TrainConfig(dataset="folder"))}.items():
    try:
        call()
        errors[what] = "no error"
    except FileNotFoundError as error:
        errors[what] = str(error)
print(json.dumps({"data_root": str(folders.data_root()), "cache_root": str(folders.cache_root()),
                  "entry_parent": str(cache.entry_dir(TrainConfig(), "0" * 64).parent), "errors": errors}))
"""


@pytest.mark.parametrize("xdg", [True, False], ids=["XDG_CACHE_HOME", "HOME"])
@pytest.mark.slow
def test_importing_the_library_from_an_unrelated_folder_uses_the_user_cache_not_the_cwd(tmp_path, xdg):
    """The cwd looks like a workbook (notebooks/, pyproject.toml, data/, cache/): a library that walked up from the
    cwd would pick it; a2lib must take ~/.cache/a2lib (or $XDG_CACHE_HOME/a2lib) when A2LIB_* are unset."""
    cwd = tmp_path / "unrelated"
    for folder in ("notebooks", "data", "cache"):
        (cwd / folder).mkdir(parents=True)
    (cwd / "pyproject.toml").write_text("[project]\nname = 'decoy'\n")
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARIABLES}
    env["HOME"] = str(tmp_path / "home")
    if xdg:
        env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    user_cache = (tmp_path / "xdg" if xdg else tmp_path / "home" / ".cache") / "a2lib"
    before = sorted(p.name for p in cwd.rglob("*"))
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["data_root"] == str(user_cache / "data")
    assert found["cache_root"] == found["entry_parent"] == str(user_cache / "models")
    for what, message in found["errors"].items():
        assert str(user_cache / "data") in message and str(cwd) not in message, (what, message)
    assert sorted(p.name for p in cwd.rglob("*")) == before
