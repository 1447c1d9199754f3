"""The first code cell of every chapter: install the book's package when running in Colab.

The repository URL and branch live in one place, `_config.yml` (``repository.url`` and
``repository.branch``); this script renders the install cell from them and writes it into
every chapter listed in `_toc.yml`, so that the cells never drift from the config. The cell
carries two tags: ``colab-install`` (what the tests and this script find it by) and
``remove-cell`` (Jupyter Book leaves it out of the HTML, where it would open every chapter
with code that does nothing outside Colab; the notebook keeps it).

    python tools/colab_cell.py          # check: exit 1 if a chapter's install cell differs
    python tools/colab_cell.py --write  # rewrite the install cell of every chapter
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
TAG = "colab-install"
#: every tag the install cell carries: TAG, and Jupyter Book's tag that keeps it out of the HTML
TAGS = (TAG, "remove-cell")

TEMPLATE = """\
# Colab: fetch the book's repository and install its package (Colab ships torch and numpy).
import sys

if "google.colab" in sys.modules:
    !git clone -q --depth 1 --branch {branch} {url} /content/ddpm-tutorial
    !pip install -q /content/ddpm-tutorial
    %env DDPM_TUTORIAL_DATA=/content/ddpm-tutorial/data"""


def repository(root: Path = ROOT) -> tuple[str, str]:
    """(url, branch) from `_config.yml`."""
    config = yaml.safe_load((root / "_config.yml").read_text())
    repo = config["repository"]
    return repo["url"], repo.get("branch", "main")


def install_cell_source(root: Path = ROOT) -> str:
    url, branch = repository(root)
    return TEMPLATE.format(url=url, branch=branch)


def chapters(root: Path = ROOT) -> list[Path]:
    """Every notebook listed in `_toc.yml`, in reading order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files: list[str] = []

    def walk(entries: list[dict]) -> None:
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            for key in ("chapters", "sections", "parts"):
                if key in entry:
                    walk(entry[key])

    walk(toc.get("parts", []) + toc.get("chapters", []))
    return [root / f"{f}.ipynb" for f in files if (root / f"{f}.ipynb").is_file()]


def first_code_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode | None:
    return next((c for c in nb.cells if c.cell_type == "code"), None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--write", action="store_true", help="rewrite the install cells")
    args = parser.parse_args(argv)
    expected = install_cell_source()
    stale = []
    for path in chapters():
        nb = nbformat.read(path, as_version=4)
        cell = first_code_cell(nb)
        tags_now = cell.metadata.get("tags", []) if cell is not None else []
        if cell is None or any(t not in tags_now for t in TAGS) or cell.source != expected:
            stale.append(path.relative_to(ROOT))
            if args.write and cell is not None:
                cell.source = expected
                tags = cell.metadata.setdefault("tags", [])
                tags.extend(t for t in TAGS if t not in tags)
                nbformat.write(nb, path)
    if stale and not args.write:
        print("install cell differs from _config.yml in: " + ", ".join(map(str, stale)))
        return 1
    print(
        f"{'rewrote' if args.write else 'checked'} {len(stale) if args.write else len(chapters())} chapters"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
