"""What readers get points only at files that are in the repository.

Every relative link in the book's Markdown pages and in the Markdown cells of its notebooks
(``[text](path)``, ``![alt](path)``, ``<img src="path">``, ``{doc}`` and ``{download}`` roles)
resolves to a file; a link to an anchor on the same page names a label that the page defines;
every ``_toc.yml`` entry and every path ``_config.yml`` names exists. The README's relative
links are checked too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML (a dependency of the book extra) is missing")

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "book"

LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'][^\"']*[\"'])?\s*\)")
HTML_SRC = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']+)["']""")
ROLE = re.compile(r"\{(doc|download)\}`(?:[^`<]*<([^>]+)>|([^`]+))`")
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//|\{\{)", re.I)  # http:, mailto:, {{ repo_url }}
SUFFIXES = ("", ".md", ".ipynb")


def _pages() -> list[Path]:
    pages = [p for p in BOOK.rglob("*") if p.suffix in (".md", ".ipynb")]
    skip = ("_static", "_build", ".ipynb_checkpoints")
    return sorted(p for p in pages if not any(part in skip for part in p.parts))


def _markdown_of(page: Path) -> str:
    """A page's Markdown: the whole .md file, or a notebook's Markdown cells."""
    if page.suffix == ".md":
        return page.read_text()
    cells = json.loads(page.read_text())["cells"]
    return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def _targets(text: str) -> list[tuple[str, str]]:
    """Every link target in ``text``, as (how it was written, the target)."""
    found = [("link", m.group(1)) for m in LINK.finditer(text)]
    found += [("html", m.group(1)) for m in HTML_SRC.finditer(text)]
    found += [(f"{{{m.group(1)}}}", m.group(2) or m.group(3)) for m in ROLE.finditer(text)]
    return [(how, target.strip()) for how, target in found]


def _labels(text: str) -> set[str]:
    """Anchors a page defines: MyST labels ``(name)=``, HTML ids, and heading slugs."""
    labels = set(re.findall(r"^\(([^)\s]+)\)=\s*$", text, re.M))
    labels |= set(re.findall(r"""\bid\s*=\s*["']([^"']+)["']""", text))
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", text, re.M):
        labels.add(re.sub(r"[^\w\- ]", "", heading.lower()).strip().replace(" ", "-"))
    return labels


def _resolves(page: Path, target: str, how: str) -> bool:
    path = target.split("#", 1)[0].split("?", 1)[0]
    base = REPO if path.startswith("/") else page.parent
    candidate = base / path.lstrip("/")
    suffixes = SUFFIXES if how == "{doc}" else ("",)
    return any(Path(f"{candidate}{s}").is_file() for s in suffixes)


def _broken(page: Path) -> list[str]:
    text = _markdown_of(page)
    broken = []
    for how, target in _targets(text):
        if EXTERNAL.match(target):
            continue
        if target.startswith("#"):
            if target[1:] not in _labels(text):
                broken.append(f"{how} {target}: no such anchor on the page")
        elif not _resolves(page, target, how):
            broken.append(f"{how} {target}: no such file")
    return broken


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_in_a_book_page_resolves_to_a_file(page):
    assert _broken(page) == []


def test_the_checker_finds_a_missing_file_a_missing_anchor_and_a_missing_doc(tmp_path):
    (tmp_path / "there.ipynb").write_text("{}")
    page = tmp_path / "page.md"
    page.write_text(
        "(here)=\n# A title\n[ok](there.ipynb) [ok](#here) [ok](#a-title) {doc}`there`\n"
        "[web](https://example.org/x.md) [gone](gone.ipynb) [no](#nowhere) {doc}`gone`\n"
        '<img src="gone.png">\n'
    )
    assert _broken(page) == [
        "link gone.ipynb: no such file",
        "link #nowhere: no such anchor on the page",
        "html gone.png: no such file",
        "{doc} gone: no such file",
    ]


def test_every_relative_link_in_the_readme_resolves_to_a_file():
    assert _broken(REPO / "README.md") == []


def _toc_files(entries: list[dict]) -> list[str]:
    files = []
    for entry in entries:
        if "file" in entry:
            files.append(entry["file"])
        for key in ("parts", "chapters", "sections"):
            files += _toc_files(entry.get(key, []))
    return files


def test_every_toc_entry_is_a_page_in_the_repository():
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    files = [toc["root"], *_toc_files(toc.get("parts", [])), *_toc_files(toc.get("chapters", []))]
    assert len(files) > 10  # the root, every chapter and every appendix
    missing = [f for f in files if not any((REPO / f"{f}{s}").is_file() for s in SUFFIXES[1:])]
    assert missing == []


def test_every_page_of_the_book_is_in_the_toc():
    """A page left out of the table of contents is a page no reader can reach."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    listed = {toc["root"], *_toc_files(toc.get("parts", []))}
    pages = {str(p.relative_to(REPO).with_suffix("")) for p in _pages()}
    assert pages - listed == set()


def test_every_path_the_book_config_names_exists():
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    sphinx = config["sphinx"]
    paths = [
        config["html"]["favicon"],
        *config["bibtex_bibfiles"],
        *sphinx["config"]["html_static_path"],
        *sphinx["local_extensions"].values(),
    ]
    paths += [
        f"{sphinx['local_extensions'][name]}/{name}.py" for name in sphinx["local_extensions"]
    ]
    static = [REPO / p for p in sphinx["config"]["html_static_path"]]
    for css in sphinx["config"]["html_css_files"]:
        assert any((folder / css).is_file() for folder in static), css
    assert [p for p in paths if not (REPO / p).exists()] == []
