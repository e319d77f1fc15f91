"""``a2lib book --profile P``: the executed notebooks of a run (``runs/<profile>/``) as a static HTML site, built
offline into ``runs/<profile>/book/``: one page per notebook with its outputs (nbconvert), the glossary
(``docs/glossary.md``) and a landing page with the course path (00 → 06) and the run's results block (the README's
block, ``results.readme_block``). Links between the sources (``.ipynb``, ``.md``) are rewritten to the pages;
``book_problems`` lists every page, image or internal link of a built book that does not resolve.

``export_executed`` copies a run's executed notebooks into ``notebooks/executed/<profile>/`` to be committed, with
their PNG outputs re-encoded as JPEG (downscaled to ``MAX_IMAGE_SIDE``) and refused when over ``MAX_EXPORT_BYTES``.
"""
from __future__ import annotations

import base64
import html
import io
import json
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from typing import Sequence
from urllib.parse import unquote, urlsplit

from . import paths
from .errors import WorkbookError
from .notebooks import PREFIX_LENGTH, discover_notebooks, select_notebooks

BOOK = "book"
"""The book's folder under ``runs/<profile>/``."""
INDEX, GLOSSARY_PAGE = "index.html", "glossary.html"
GLOSSARY_SOURCE = PurePosixPath("docs/glossary.md")
HIDDEN_DOCS = ("docs/instructor.md",)
"""Sources never published in the book (the instructor guide holds the answers to the students' questions)."""
README_SOURCE = PurePosixPath("README.md")
TEMPLATE = "lab"
"""nbconvert's HTML template for the notebook pages."""
MARKDOWN_PLUGINS = ("table", "strikethrough", "url")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".svg")
FILES = "files"
"""Where images a notebook or document links by path are copied inside the book."""
LESSONS = {"00": 1, "01": 1, "02": 2, "03": 3, "04": 3, "05": 4, "06": 5}
"""The course path: the lesson of each notebook (``docs/instructor.md`` teaches the same five)."""
EXECUTED = "executed"
MAX_EXPORT_BYTES = 15 * 2 ** 20
"""The committed executed notebooks of one profile, all together, stay under this (15 MiB)."""
MAX_IMAGE_SIDE = 1200
JPEG_QUALITY = 80
CSS = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}td,th{border:1px solid #ccc;padding:.2rem .5rem;
vertical-align:top}code{background:#f4f4f4;padding:0 .2rem}nav{margin-bottom:1.5rem}"""


def github_slug(text: str) -> str:
    """The anchor GitHub gives a markdown heading (lower case, punctuation dropped, spaces to hyphens): the book's
    pages use the same, so ``glossary.md#tie-aware-ap`` works on GitHub and in the book."""
    plain = html.unescape(re.sub(r"<[^>]+>", "", text)).strip().lower()
    return re.sub(r"[^\w\- ]", "", plain).replace(" ", "-")


def _markdown():
    """A mistune renderer (mistune comes with nbconvert) whose headings carry ``github_slug`` ids."""
    import mistune

    class Renderer(mistune.HTMLRenderer):
        def heading(self, text: str, level: int, **attrs) -> str:
            return f'<h{level} id="{github_slug(text)}">{text}</h{level}>\n'

    return mistune.create_markdown(escape=False, renderer=Renderer(escape=False), plugins=list(MARKDOWN_PLUGINS))


def book_dir(profile: str) -> Path:
    """``runs/<profile>/book/``."""
    return paths.runs_dir(profile, create=False) / BOOK


def executed_notebooks(profile: str, only: Sequence[str] | None = None, source_root: Path | None = None
                       ) -> list[Path]:
    """The executed copies in ``runs/<profile>/`` of the workbook's notebooks (those in ``only``), in order; an error
    naming the missing ones and the command that makes them."""
    root = Path(source_root) if source_root else paths.workbook_root()
    chosen = select_notebooks(discover_notebooks(root / paths.NOTEBOOKS), only)
    runs = paths.runs_dir(profile, create=False)
    missing = [p.stem for p in chosen if not (runs / p.name).is_file()]
    if missing:
        numbers = ",".join(stem[:PREFIX_LENGTH] for stem in missing)
        raise WorkbookError(f"{runs} lacks the executed notebook(s) {', '.join(missing)}; make them with "
                            f"`a2lib run --profile {profile}` (or `a2lib run --profile {profile} --only {numbers}`)")
    return [runs / p.name for p in chosen]


def _resolve(base: PurePosixPath, target: str) -> PurePosixPath | None:
    """The repository path a relative link of the source ``base`` points at (None if it leaves the repository)."""
    parts: list[str] = []
    for part in (base.parent / target).parts:
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part != ".":
            parts.append(part)
    return PurePosixPath(*parts)


def _rewrite_links(text: str, source: PurePosixPath, pages: dict[PurePosixPath, str], root: Path, out: Path) -> str:
    """Point every relative ``href``/``src`` of the page made from ``source`` at the book: a source with a page at
    its page, an image file at its copy under ``files/``; other links stay as they are."""

    def replace(match: re.Match) -> str:
        attribute, value = match.group(1), html.unescape(match.group(2))
        parts = urlsplit(value)
        if parts.scheme or parts.netloc or not parts.path:
            return match.group(0)
        target = _resolve(source, unquote(parts.path))
        if target is None:
            return match.group(0)
        fragment = f"#{parts.fragment}" if parts.fragment else ""
        if target in pages:
            return f'{attribute}="{html.escape(pages[target] + fragment)}"'
        if target.suffix.lower() in IMAGE_SUFFIXES and (root / target).is_file():
            copy = out / FILES / target
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / target, copy)
            return f'{attribute}="{html.escape(str(PurePosixPath(FILES) / target))}"'
        return match.group(0)

    return re.sub(r'\b(href|src)="([^"]*)"', replace, text)


def _title(notebook: dict, fallback: str) -> str:
    """The first markdown heading of a notebook."""
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return fallback


def _page(title: str, body: str, home: bool = False) -> str:
    nav = "" if home else f'<nav><a href="{INDEX}">← course path</a> · <a href="{GLOSSARY_PAGE}">glossary</a></nav>'
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{CSS}</style></head><body>{nav}\n{body}\n</body></html>\n")


def _without_comments(markdown: str) -> str:
    return re.sub(r"<!--.*?-->", "", markdown, flags=re.S)


def build_book(profile: str, out: Path | None = None, only: Sequence[str] | None = None,
               source_root: Path | None = None) -> Path:
    """Build the book of ``profile``'s executed notebooks (those in ``only``) into ``out`` (default
    ``runs/<profile>/book/``) and return the folder. ``source_root`` (default the workbook root) holds the source
    notebooks, ``docs/`` and ``README.md``."""
    import nbformat
    from nbconvert import HTMLExporter

    from .results import readme_block

    root = Path(source_root) if source_root else paths.workbook_root()
    executed = executed_notebooks(profile, only, root)
    out = Path(out) if out else book_dir(profile)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    pages = {PurePosixPath(paths.NOTEBOOKS) / p.name: f"{p.stem}.html" for p in executed}
    pages[README_SOURCE] = INDEX
    docs = sorted(p for p in (root / "docs").glob("*.md") if f"docs/{p.name}" not in HIDDEN_DOCS) \
        if (root / "docs").is_dir() else []
    pages.update({PurePosixPath("docs") / p.name: f"{p.stem}.html" for p in docs})
    exporter = HTMLExporter(template_name=TEMPLATE)
    titles = {}
    for path in executed:
        notebook = nbformat.read(path, as_version=4)
        titles[path.stem] = _title(notebook, path.stem)
        body, _ = exporter.from_notebook_node(notebook)
        source = PurePosixPath(paths.NOTEBOOKS) / path.name
        (out / pages[source]).write_text(_rewrite_links(body, source, pages, root, out))
    render = _markdown()
    for doc in docs:
        source = PurePosixPath("docs") / doc.name
        text = render(doc.read_text())
        (out / pages[source]).write_text(_rewrite_links(_page(doc.stem, text), source, pages, root, out))
    course = "\n".join(f'<li>lesson {LESSONS.get(stem[:PREFIX_LENGTH], "–")}: <a href="{stem}.html">'
                       f"{html.escape(title)}</a> (<code>{stem}</code>)</li>" for stem, title in titles.items())
    glossary = (f'<p>Every term the notebooks use is defined in the <a href="{GLOSSARY_PAGE}">glossary</a>.</p>'
                if GLOSSARY_SOURCE in pages else "")
    results = render(_without_comments(readme_block(profile)))
    index = (f"<h1>a2lib workbook · profile <code>{html.escape(profile)}</code></h1>\n<h2 id=\"course-path\">Course "
             f"path</h2>\n<ol>\n{course}\n</ol>\n{glossary}\n<h2 id=\"results\">Results of this run</h2>\n{results}")
    (out / INDEX).write_text(_rewrite_links(_page(f"a2lib · {profile}", index, home=True), README_SOURCE, pages,
                                            root, out))
    return out


class _Links(HTMLParser):
    """The ids, ``href``s and ``src``s of one HTML page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        for key in ("id", "name"):
            if values.get(key) and (key == "id" or tag == "a"):
                self.ids.add(values[key])
        for key in ("href", "src"):
            if values.get(key) is not None:
                self.links.append((f"{tag}.{key}", values[key]))


def _image_problem(value: str) -> str | None:
    """Why an ``img`` data URI is not a readable image, or None."""
    from PIL import Image

    header, _, data = value.partition(",")
    if ";base64" not in header:
        return None if header.startswith("data:image/svg") else f"not base64: {header[:40]}"
    try:
        Image.open(io.BytesIO(base64.b64decode(data))).verify()
    except Exception as err:  # PIL raises many kinds for a broken image
        return f"unreadable image ({type(err).__name__})"
    return None


def book_problems(folder: Path, pages: Sequence[str] = (INDEX,)) -> list[str]:
    """Every broken thing of the book in ``folder``: a page of ``pages`` missing, an internal ``href``/``src`` whose
    file or ``#id`` does not exist (raw or percent-decoded, as browsers look it up), an image that does not decode. External (``http:``, ``mailto:``) links are not
    followed."""
    folder = Path(folder)
    problems = [f"missing page {name}" for name in pages if not (folder / name).is_file()]
    parsed: dict[Path, _Links] = {}

    def links_of(page: Path) -> _Links:
        if page not in parsed:
            parsed[page] = _Links()
            parsed[page].feed(page.read_text(errors="replace"))
        return parsed[page]

    for page in sorted(folder.rglob("*.html")):
        for where, value in links_of(page).links:
            parts = urlsplit(value)
            if value.startswith("data:"):
                problem = _image_problem(value) if where == "img.src" else None
                if problem:
                    problems.append(f"{page.name}: {where} {problem}")
                continue
            if parts.scheme or parts.netloc:
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page.resolve()
            if not target.is_file() or not target.is_relative_to(folder.resolve()):
                problems.append(f"{page.name}: {where} {value!r} points at no file of the book")
            elif (parts.fragment and target.suffix == ".html"
                  and not {parts.fragment, unquote(parts.fragment)} & links_of(target).ids):
                problems.append(f"{page.name}: {where} {value!r}: {target.name} has no id {unquote(parts.fragment)!r}")
    return problems


def _compressed(data: str) -> str | None:
    """A base64 PNG as a base64 JPEG at most ``MAX_IMAGE_SIDE`` pixels a side (transparency on white), or None
    when that is not smaller."""
    from PIL import Image

    raw = base64.b64decode(data)
    image = Image.open(io.BytesIO(raw))
    image.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        image = Image.new("RGB", rgba.size, "white")
        image.paste(rgba, mask=rgba.getchannel("A"))
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return base64.b64encode(buffer.getvalue()).decode() if buffer.tell() < len(raw) else None


def compress_notebook(notebook: dict) -> dict:
    """``notebook`` (nbformat JSON) with every PNG output replaced by a smaller JPEG where that is smaller."""
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            bundle = output.get("data", {})
            png = bundle.get("image/png")
            if png is None:
                continue
            jpeg = _compressed("".join(png) if isinstance(png, list) else png)
            if jpeg is not None:
                del bundle["image/png"]
                bundle["image/jpeg"] = jpeg
                output.get("metadata", {}).pop("image/png", None)
    return notebook


def export_executed(profile: str, dest: Path | None = None, only: Sequence[str] | None = None,
                    limit: int = MAX_EXPORT_BYTES, source_root: Path | None = None) -> list[Path]:
    """Copy ``profile``'s executed notebooks into ``dest`` (default ``notebooks/executed/<profile>/``) with their
    images compressed (``compress_notebook``); refused, writing nothing, when they would exceed ``limit`` bytes."""
    root = Path(source_root) if source_root else paths.workbook_root()
    sources = executed_notebooks(profile, only, root)
    texts = {p.name: json.dumps(compress_notebook(json.loads(p.read_text())), indent=1, ensure_ascii=False) + "\n"
             for p in sources}
    sizes = {name: len(text.encode()) for name, text in texts.items()}
    if sum(sizes.values()) > limit:
        largest = ", ".join(f"{name} {size / 2 ** 20:.1f} MiB" for name, size in
                            sorted(sizes.items(), key=lambda item: -item[1])[:3])
        raise WorkbookError(f"the executed notebooks of {profile!r} take {sum(sizes.values()) / 2 ** 20:.1f} MiB after "
                            f"compression, over the {limit / 2 ** 20:.1f} MiB limit (largest: {largest}); export fewer "
                            "with --only, or show fewer or smaller figures in them")
    dest = Path(dest) if dest else root / paths.NOTEBOOKS / EXECUTED / profile
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in texts.items():
        tmp = dest / f".{name}.tmp"
        tmp.write_text(text)
        os.replace(tmp, dest / name)
        written.append(dest / name)
    return written


def book_command(profile: str, only: Sequence[str] | None, out: Path | None, export: bool) -> int:
    """``a2lib book``: build the book (and with ``export`` copy the executed notebooks); 1 when it has problems."""
    folder = build_book(profile, out, only)
    problems = book_problems(folder)
    print(f"book of profile {profile!r}: {folder / INDEX}")
    if export:
        written = export_executed(profile, only=only)
        total = sum(p.stat().st_size for p in written)
        print(f"{len(written)} executed notebooks ({total / 2 ** 20:.1f} MiB) in {written[0].parent}")
    for problem in problems:
        print(f"broken: {problem}")
    return 1 if problems else 0


__all__ = ["BOOK", "EXECUTED", "LESSONS", "MAX_EXPORT_BYTES", "book_command", "book_dir", "book_problems",
           "build_book", "compress_notebook", "executed_notebooks", "export_executed", "github_slug"]
