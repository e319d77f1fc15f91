"""``a2lib book``: the executed notebooks of a run as a static HTML site whose every page, image and internal link
resolves (checked here by an HTML parser of its own), and the committed copy of executed notebooks with compressed
images under a size limit."""
import base64
import io
import json
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from PIL import Image

from a2lib import workbook
from a2lib.workbook import book
from a2lib.workbook.errors import WorkbookError
from a2lib.workbook.runner import build_parser

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


class Page(HTMLParser):
    """Ids, links and images of one page."""

    def __init__(self, text: str):
        super().__init__()
        self.ids, self.links, self.images = set(), [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "img":
            self.images.append(attrs.get("src") or "")


def broken(folder: Path) -> list[str]:
    """Internal links and images of every page of ``folder`` that do not resolve (fragments included)."""
    pages = {p: Page(p.read_text()) for p in folder.rglob("*.html")}
    problems = []
    for path, page in pages.items():
        for src in page.images:
            if src.startswith("data:image/png;base64,") or src.startswith("data:image/jpeg;base64,"):
                Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).verify()
            elif not (path.parent / src).is_file():
                problems.append(f"{path.name}: image {src}")
        for href in page.links:
            parts = urlsplit(href)
            if parts.scheme or parts.netloc:
                continue
            target = (path.parent / unquote(parts.path)) if parts.path else path
            if target not in pages and not target.is_file():
                problems.append(f"{path.name}: link {href}")
            elif parts.fragment and target in pages and not ({parts.fragment, unquote(parts.fragment)}
                                                             & pages[target].ids):
                problems.append(f"{path.name}: anchor {href}")
    return problems


def png(size=(300, 200), colour=(200, 40, 40)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def noisy_png(side: int) -> str:
    """A PNG that compresses badly (random pixels), as a figure of many points does."""
    import numpy as np

    pixels = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def synthetic_workbook(root: Path, profile: str = "fx") -> dict:
    """Two source notebooks, their executed copies in runs/<profile>/ (one with a PNG output), a glossary, an
    instructor guide that must stay out of the book and a README."""
    (root / "notebooks").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "docs" / "glossary.md").write_text("# Glossary\n\n### mAP\nMean AP, see [ties](#tie-aware-ap).\n\n"
                                              "### Tie-aware AP\nExpected AP.\n")
    (root / "docs" / "instructor.md").write_text("# Answers\nsecret\n")
    (root / "README.md").write_text("# workbook\n")
    runs = root / "runs" / profile
    runs.mkdir(parents=True)
    image = png()
    first = new_notebook(cells=[
        new_markdown_cell("# 00 · First\nSee [the next one](01_b.ipynb), [mAP](../docs/glossary.md#map) and "
                          "[Setup](#Setup).\n\n## Setup"),
        new_code_cell("plot()", outputs=[new_output("display_data", data={"image/png": image, "text/plain": "fig"})]),
    ])
    second = new_notebook(cells=[new_markdown_cell("# 01 · Second\nBack to [00](00_a.ipynb)."),
                                 new_code_cell("1 + 1", outputs=[new_output("execute_result", data={"text/plain": "2"},
                                                                            execution_count=1)])])
    for name, notebook in (("00_a", first), ("01_b", second)):
        source = json.loads(nbformat.writes(notebook))
        for cell in source["cells"]:
            if cell["cell_type"] == "code":
                cell["outputs"] = []
        (root / "notebooks" / f"{name}.ipynb").write_text(json.dumps(source))
        nbformat.write(notebook, runs / f"{name}.ipynb")
    return {"image": image, "runs": runs}


def test_the_book_of_synthetic_executed_notebooks_has_every_page_image_and_link(tmp_path, monkeypatch):
    monkeypatch.setenv("A2LIB_ROOT", str(tmp_path))
    made = synthetic_workbook(tmp_path)
    folder = book.build_book("fx")
    assert folder == tmp_path / "runs" / "fx" / "book"
    assert {p.name for p in folder.glob("*.html")} == {"index.html", "00_a.html", "01_b.html", "glossary.html"}
    assert not (folder / "instructor.html").exists(), "the answers stay out of the book"
    first = Page((folder / "00_a.html").read_text())
    assert f"data:image/png;base64,{made['image']}" in first.images, "the figure output is on its page"
    assert "01_b.html" in first.links and "glossary.html#map" in first.links and "#Setup" in first.links
    assert not any(link.endswith((".ipynb", ".md")) or ".md#" in link for link in first.links)
    index = Page((folder / "index.html").read_text())
    assert {"00_a.html", "01_b.html", "glossary.html"} <= set(index.links)
    assert {"map", "tie-aware-ap"} <= Page((folder / "glossary.html").read_text()).ids
    assert broken(folder) == []
    assert book.book_problems(folder) == []


def test_a_missing_page_image_or_anchor_is_found(tmp_path, monkeypatch):
    monkeypatch.setenv("A2LIB_ROOT", str(tmp_path))
    synthetic_workbook(tmp_path)
    folder = book.build_book("fx")
    (folder / "01_b.html").unlink()
    glossary = folder / "glossary.html"
    glossary.write_text(glossary.read_text().replace('id="map"', 'id="gone"'))
    index = folder / "index.html"
    index.write_text(index.read_text().replace("</body>", '<img src="files/none.png"></body>'))
    found = book.book_problems(folder, pages=("index.html", "01_b.html"))
    assert "missing page 01_b.html" in found
    assert any("glossary.html#map" in p and "no id 'map'" in p for p in found)
    assert any("files/none.png" in p for p in found)
    assert len(broken(folder)) == len([p for p in found if not p.startswith("missing page")])


def test_a_run_without_executed_notebooks_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("A2LIB_ROOT", str(tmp_path))
    made = synthetic_workbook(tmp_path)
    (made["runs"] / "01_b.ipynb").unlink()
    with pytest.raises(WorkbookError, match=r"01_b; make them with `a2lib run --profile fx` .*--only 01`"):
        book.build_book("fx")
    assert workbook.main(["book", "--profile", "fx"]) == 2


def test_the_cli_builds_the_book_and_exports_compressed_notebooks(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("A2LIB_ROOT", str(tmp_path))
    made = synthetic_workbook(tmp_path)
    big = noisy_png(1600)
    executed = json.loads((made["runs"] / "00_a.ipynb").read_text())
    executed["cells"][1]["outputs"][0]["data"]["image/png"] = big
    (made["runs"] / "00_a.ipynb").write_text(json.dumps(executed))
    assert workbook.main(["book", "--profile", "fx", "--commit-notebooks"]) == 0
    assert build_parser().parse_args(["book", "--export"]).export, "--export is the same flag"
    assert "index.html" in capsys.readouterr().out
    copy = json.loads((tmp_path / "notebooks" / "executed" / "fx" / "00_a.ipynb").read_text())
    data = copy["cells"][1]["outputs"][0]["data"]
    assert "image/png" not in data
    image = Image.open(io.BytesIO(base64.b64decode(data["image/jpeg"])))
    assert image.format == "JPEG" and max(image.size) == book.MAX_IMAGE_SIDE
    assert len(data["image/jpeg"]) < len(big)
    assert (tmp_path / "notebooks" / "executed" / "fx" / "01_b.ipynb").is_file()
    with pytest.raises(WorkbookError, match="over the 0.0 MiB limit"):
        book.export_executed("fx", dest=tmp_path / "elsewhere", limit=1000)
    assert not (tmp_path / "elsewhere").exists(), "nothing is written over the limit"


@pytest.mark.slow
def test_the_book_of_the_smoke_run_shows_every_notebook_and_resolves(smoke_run, monkeypatch):
    """The book of the session's smoke run (every notebook executed for real): each notebook's page shows its
    figures, and its course path and every link between the notebooks, the glossary and the README resolve."""
    root, records = smoke_run
    assert all(r.ok for r in records)
    for name, folder in (("A2LIB_ROOT", root), ("A2LIB_DATA", root / "data"), ("A2LIB_CACHE", root / "cache")):
        monkeypatch.setenv(name, str(folder))
    folder = book.build_book("smoke", source_root=ROOT)
    assert {f"{p.stem}.html" for p in NOTEBOOKS} | {"index.html", "glossary.html"} <= {p.name for p in
                                                                                       folder.glob("*.html")}
    assert not (folder / "instructor.html").exists()
    for path in NOTEBOOKS:
        page = Page((folder / f"{path.stem}.html").read_text())
        assert any(src.startswith("data:image/png;base64,") for src in page.images), f"{path.stem} shows a figure"
    page = Page((folder / f"{NOTEBOOKS[0].stem}.html").read_text())
    assert any(link.startswith("glossary.html#") for link in page.links)
    assert broken(folder) == []
    assert book.book_problems(folder) == []
