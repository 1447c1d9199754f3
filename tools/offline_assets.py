"""Serve the book's JavaScript from the build, never from a CDN.

Jupyter Book 1 loads MathJax and the ipywidgets HTML manager from CDNs by default. MathJax is
handled by the ``sphinx-mathjax-offline`` extension (it ships MathJax 3 inside its wheel). The
ipywidgets HTML manager and require.js are too large to commit (about 6 MB with their fonts),
so this script fetches them, at pinned versions, from the npm registry into
``book/_static/vendor/`` (git-ignored), where ``_config.yml``'s ``nb_ipywidgets_js`` points.

Two uses:

* a command line, run by the Makefile before the book build::

      python tools/offline_assets.py            # fetch what is missing (needs npm or the registry)
      python tools/offline_assets.py --check    # exit 1 if anything is missing, fetch nothing

* a Sphinx extension (``_config.yml``: ``local_extensions: {offline_assets: tools/}``) that
  warns, which fails a ``-W`` build, when the vendored files are missing or when the
  configuration would load any script or style sheet from another host.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
VENDOR_DIR = REPO_ROOT / "book" / "_static" / "vendor"


@dataclass(frozen=True)
class NpmAsset:
    """One npm package, pinned by version and by the registry's sha512 integrity string."""

    name: str
    version: str
    integrity: str
    files: tuple[str, ...]  # glob patterns inside the package folder, copied flat
    dest: str  # folder under VENDOR_DIR

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def tarball_url(self) -> str:
        base = self.name.split("/")[-1]
        return f"https://registry.npmjs.org/{self.name}/-/{base}-{self.version}.tgz"


# html-manager 1.x renders ipywidgets 8 (widget protocol 2); it bundles @jupyter-widgets/base,
# controls and output, and loads its Font Awesome fonts from its own folder.
ASSETS: tuple[NpmAsset, ...] = (
    NpmAsset(
        name="@jupyter-widgets/html-manager",
        version="1.0.15",
        integrity="sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA==",
        files=(
            "dist/embed-amd.js",
            "dist/*.woff2",
            "dist/*.woff",
            "dist/*.ttf",
            "dist/*.eot",
            "dist/*.svg",
        ),
        dest="html-manager",
    ),
    NpmAsset(
        name="requirejs",
        version="2.3.8",
        integrity="sha512-7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+Jd5otXKGNehIonFlyQXSowL6Mw==",
        files=("require.js",),
        dest="requirejs",
    ),
)

# The files the book's pages load (relative to _static); _config.yml's nb_ipywidgets_js.
REQUIRED_FILES: tuple[str, ...] = (
    "vendor/requirejs/require.js",
    "vendor/html-manager/embed-amd.js",
)


def missing_files(vendor_dir: Path = VENDOR_DIR) -> list[Path]:
    static_dir = vendor_dir.parent
    return [static_dir / rel for rel in REQUIRED_FILES if not (static_dir / rel).is_file()]


def _check_integrity(data: bytes, asset: NpmAsset) -> None:
    digest = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if digest != asset.integrity:
        raise RuntimeError(
            f"{asset.spec}: tarball integrity {digest} does not match the pinned {asset.integrity}"
        )


def _fetch_tarball(asset: NpmAsset, workdir: Path) -> bytes:
    """The package tarball, through npm when it is installed, else straight from the registry."""
    npm = shutil.which("npm")
    if npm:
        result = subprocess.run(
            [npm, "pack", asset.spec, "--silent", "--pack-destination", str(workdir)],
            cwd=workdir,
            capture_output=True,
            text=True,
            check=False,
        )
        tarballs = sorted(workdir.glob("*.tgz"))
        if result.returncode == 0 and tarballs:
            data = tarballs[-1].read_bytes()
            for tarball in tarballs:
                tarball.unlink()
            return data
        print(f"npm pack {asset.spec} failed ({result.stderr.strip()}); trying the registry URL")
    with urllib.request.urlopen(asset.tarball_url, timeout=120) as response:  # noqa: S310
        return response.read()


def fetch(asset: NpmAsset, vendor_dir: Path = VENDOR_DIR) -> list[Path]:
    """Download, verify and unpack one asset into vendor_dir/asset.dest; return the files."""
    with tempfile.TemporaryDirectory(prefix="offline_assets_") as tmp:
        workdir = Path(tmp)
        data = _fetch_tarball(asset, workdir)
        _check_integrity(data, asset)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            archive.extractall(workdir / "unpacked", filter="data")
        package_dir = workdir / "unpacked" / "package"
        dest = vendor_dir / asset.dest
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        copied = []
        for pattern in asset.files:
            for source in sorted(package_dir.glob(pattern)):
                target = dest / source.name
                shutil.copyfile(source, target)
                copied.append(target)
        (dest / "VERSION").write_text(f"{asset.spec}\n{asset.integrity}\n")
    return copied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report missing files")
    parser.add_argument("--force", action="store_true", help="fetch even if present")
    parser.add_argument("--vendor-dir", type=Path, default=VENDOR_DIR)
    args = parser.parse_args(argv)

    missing = missing_files(args.vendor_dir)
    if args.check:
        for path in missing:
            print(f"missing: {path}")
        return 1 if missing else 0
    if not missing and not args.force:
        print(f"offline assets present in {args.vendor_dir}")
        return 0
    for asset in ASSETS:
        files = fetch(asset, args.vendor_dir)
        size = sum(f.stat().st_size for f in files) / 1e6
        dest = args.vendor_dir / asset.dest
        print(f"fetched {asset.spec}: {len(files)} files, {size:.1f} MB -> {dest}")
    still_missing = missing_files(args.vendor_dir)
    for path in still_missing:
        print(f"still missing after fetch: {path}")
    return 1 if still_missing else 0


# ------------------------------------------------------------------ Sphinx extension


def _check_sphinx_config(app) -> None:  # app: sphinx.application.Sphinx
    from sphinx.util import logging

    logger = logging.getLogger("offline_assets")
    config = app.config
    if app.builder is None or app.builder.format != "html":
        return
    static_dirs = [Path(app.confdir, p) for p in config.html_static_path]
    for rel in config.nb_ipywidgets_js:
        if "://" in rel or rel.startswith("//"):
            logger.warning(
                f"nb_ipywidgets_js loads {rel} from another host; the book must be offline"
            )
        elif not any((d / rel).is_file() for d in static_dirs):
            logger.warning(
                f"_static/{rel} is missing: run `python tools/offline_assets.py` "
                "before building the book"
            )
    if "://" in (config.mathjax_path or "") or (config.mathjax_path or "").startswith("//"):
        logger.warning(f"mathjax_path {config.mathjax_path} is remote; the book must read offline")
    if "sphinx-mathjax-offline" not in app.extensions:
        logger.warning("sphinx-mathjax-offline is not loaded: MathJax would come from a CDN")
    for entry in list(config.html_js_files) + list(config.html_css_files):
        name = entry[0] if isinstance(entry, tuple) else entry
        if "://" in str(name) or str(name).startswith("//"):
            logger.warning(f"{name} is loaded from another host; the book must read offline")


def _drop_duplicate_inline_scripts(app, pagename, templatename, context, doctree) -> None:
    """Keep one copy of each inline script on a page.

    Under Sphinx 7.4, extensions that add an inline script after the builder started (as
    sphinx-thebe does with ``const THEBE_JS_URL = ...``) get it twice on every page, and the
    second ``const`` throws a SyntaxError in the browser.
    """
    scripts = context.get("script_files")
    if not scripts:
        return
    seen = set()
    kept = []
    for script in scripts:
        filename = getattr(script, "filename", script) or ""
        attributes = getattr(script, "attributes", {}) or {}
        key = (str(filename), tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if not filename and key in seen:
            continue
        seen.add(key)
        kept.append(script)
    scripts[:] = kept


def setup(app):  # noqa: D103
    app.connect("builder-inited", _check_sphinx_config)
    # run after every other handler has added its scripts
    app.connect("html-page-context", _drop_duplicate_inline_scripts, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    sys.exit(main())
