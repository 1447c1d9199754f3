"""The built book, opened page by page in a real headless Chromium (tools/check_html.py)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest


def test_every_page_reads_offline_with_typeset_math_loaded_images_and_no_console_errors(book_check):
    reports, _ = book_check
    broken = [r for r in reports if r.problems]
    report = "\n".join(f"{r.page}\n" + "\n".join(f"  - {p}" for p in r.problems) for r in broken)
    assert not broken, f"{sum(len(r.problems) for r in broken)} problems:\n{report}"


def test_the_check_opened_every_page_including_search_and_the_index(
    book_check, check_html, html_dir
):
    reports, _ = book_check
    checked = {r.page for r in reports}
    assert checked == set(check_html.find_pages(html_dir))
    assert {"search.html", "genindex.html"} <= checked


def test_mathjax_typeset_the_math_it_was_given(book_check):
    reports, _ = book_check
    assert sum(r.n_math for r in reports) > 0, "no page has math: is MathJax on any page at all?"


def test_a_1280_by_2000_screenshot_of_the_first_chapter_is_saved(book_check, screenshot_path: Path):
    data = screenshot_path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{screenshot_path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 2000)


PAGES = {
    "cdn.html": '<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"></script>',
    "broken_image.html": '<img src="missing.png">',
    "raw_math.html": '<span class="math notranslate nohighlight">\\(\\bar\\alpha_t\\)</span>',
    "console_error.html": '<script>console.error("boom")</script>',
    "clean.html": "<p>nothing wrong here</p>",
}
EXPECTED = {
    "cdn.html": "request to a non-local host: https://cdn.jsdelivr.net/",
    "broken_image.html": "image did not load",
    "raw_math.html": "math: not typeset",
    "console_error.html": "console error: boom",
}


@pytest.fixture(scope="module")
def bad_site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bad_site")
    for name, body in PAGES.items():
        head = '<link rel="icon" href="data:,">'
        (root / name).write_text(
            f"<!doctype html><html><head>{head}</head><body>{body}</body></html>"
        )
    return root


def test_the_checker_catches_a_cdn_script_a_broken_image_raw_math_and_a_console_error(
    check_html, chromium, bad_site
):
    reports, _ = check_html.run(bad_site, None, chromium, timeout=30.0)
    problems = {r.page: r.problems for r in reports}
    for page, expected in EXPECTED.items():
        assert any(p.startswith(expected) for p in problems[page]), (page, problems[page])
    assert problems["clean.html"] == []
