"""Open every page of the built book in a real, headless Chromium and report what is broken.

Usage::

    python tools/check_html.py _build/html [--screenshot _build/screenshots/first-chapter.png]

For each HTML page (search, genindex and the module index included) it records

* console errors: ``console.error``, uncaught exceptions and the browser's own error log
  (failed loads, blocked scripts);
* images that did not load (``img.complete && naturalWidth == 0``) and local files the
  server could not find;
* math that MathJax left untypeset: a ``.math`` element without ``mjx-container``, ``$$``,
  ``\\(`` or ``\\[`` left in its text, or a MathJax TeX error (``mjx-merror``);
* every request to a host other than localhost, whether it would succeed or not: the book
  must read offline. Chromium resolves no other host name here, so the check behaves the
  same with or without a network.

It then saves a 1280x2000 screenshot of the first chapter (``book/part1/reverse_process.html``
if present, else the page after the root in the table of contents), prints
``checked N pages, 0 problems`` and exits 0, or prints a report per page and exits 1.
Exit status 2 means the check could not run (no Chromium, no pages).

Needs only the Python standard library and a Chromium binary (Debian: ``apt-get install
chromium``), driven through the Chrome DevTools protocol over a pipe. Set ``CHROMIUM`` to
choose the binary.
"""

from __future__ import annotations

import argparse
import base64
import functools
import http.server
import json
import os
import queue
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
FIRST_CHAPTER = "book/part1/reverse_process.html"
SKIP_DIRS = {"_static", "_sources", "_images", ".doctrees", "_downloads", "jupyter_execute"}
# Paths a browser asks for by itself; a 404 there is not the book's fault.
IGNORED_404 = {"/favicon.ico"}

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-dev-shm-usage",
    "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider",
    "--metrics-recording-only",
    "--mute-audio",
    "--hide-scrollbars",
    # Resolve no host but localhost: a request to a CDN fails at once instead of hanging, and
    # is still reported, so the result does not depend on whether a network is there.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
    "--window-size=1280,2000",
    "--remote-debugging-pipe",
]

WAIT_FOR_PAGE_JS = r"""
(async () => {
  const deadline = Date.now() + %(timeout_ms)d;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const usesMathJax = !!document.querySelector('script[src*="mathjax" i]');
  if (usesMathJax) {
    // Deferred scripts have run by the load event: if MathJax is not there within a few
    // seconds, its script failed (the console error says why); do not wait any longer.
    const mathjaxDeadline = Math.min(deadline, Date.now() + 5000);
    const ready = () => window.MathJax && MathJax.startup && MathJax.startup.promise;
    while (!ready() && Date.now() < mathjaxDeadline) {
      await sleep(50);
    }
    if (ready()) {
      try { await MathJax.startup.promise; } catch (e) { console.error('MathJax failed: ' + e); }
    }
  }
  for (const img of document.images) { if (img.loading === 'lazy') img.loading = 'eager'; }
  await Promise.all([...document.images].map((img) => img.complete ? null : new Promise((r) => {
    img.addEventListener('load', r, {once: true});
    img.addEventListener('error', r, {once: true});
    setTimeout(r, Math.max(0, deadline - Date.now()));
  })));
  if (document.fonts && document.fonts.ready) { await document.fonts.ready; }
  return usesMathJax;
})()
"""

INSPECT_PAGE_JS = r"""
(() => {
  const short = (s) => {
    s = (s || '').replace(/\s+/g, ' ').trim();
    return s.length > 90 ? s.slice(0, 87) + '...' : s;
  };
  const out = {images: [], math: [], nMath: 0, nImages: document.images.length};
  for (const img of document.images) {
    if (!(img.complete && img.naturalWidth > 0)) {
      out.images.push(img.currentSrc || img.src || img.outerHTML.slice(0, 120));
    }
  }
  const maths = [...document.querySelectorAll('.math')]
    .filter((el) => !el.parentElement.closest('.math'));
  out.nMath = maths.length;
  for (const el of maths) {
    const typeset = el.querySelector('mjx-container');
    const rest = el.cloneNode(true);
    rest.querySelectorAll('mjx-container, .eqno, .headerlink').forEach((n) => n.remove());
    const left = rest.textContent;
    if (!typeset) {
      out.math.push('not typeset: ' + short(el.textContent));
    } else if (/\$\$|\\\(|\\\)|\\\[|\\\]/.test(left)) {
      out.math.push('TeX delimiters left in the text: ' + short(left));
    }
    for (const err of el.querySelectorAll('mjx-merror')) {
      const message = err.getAttribute('data-mjx-error') || err.textContent;
      out.math.push('MathJax error: ' + short(message) + ' in ' + short(el.textContent));
    }
    // MathJax's "noundefined" extension shows an unknown macro as red text instead of failing.
    if (el.querySelector('mjx-container mjx-mtext[style*="color: red"]')) {
      const names = [...el.querySelectorAll('mjx-assistive-mml mtext[mathcolor="red"]')]
        .map((n) => n.textContent).join(', ') || '(see the page)';
      out.math.push('undefined TeX macro ' + names + ' in ' + short(el.textContent));
    }
  }
  return out;
})()
"""


# ------------------------------------------------------------------ a quiet local server


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the build and remembers every request it could not answer."""

    failures: list[tuple[int, str]]
    lock: threading.Lock

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass

    def send_error(self, code, message=None, explain=None):  # noqa: D102
        path = urlsplit(self.path).path
        if not (code == 404 and path in IGNORED_404):
            with self.lock:
                self.failures.append((code, unquote(path)))
        super().send_error(code, message, explain)


def serve(
    root: Path,
) -> tuple[http.server.ThreadingHTTPServer, list[tuple[int, str]], threading.Lock]:
    failures: list[tuple[int, str]] = []
    lock = threading.Lock()
    handler = functools.partial(
        type("Handler", (_Handler,), {"failures": failures, "lock": lock}), directory=str(root)
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server, failures, lock


# ------------------------------------------------------------------ DevTools over a pipe


class DevToolsError(RuntimeError):
    pass


def _fd_at_least(fd: int, lowest: int) -> int:
    """A duplicate of fd numbered at least `lowest` (the original is closed)."""
    import fcntl

    new_fd = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, lowest)
    os.close(fd)
    return new_fd


class Browser:
    """A headless Chromium driven through the DevTools protocol on fds 3 (in) and 4 (out)."""

    def __init__(self, binary: str, extra_flags: list[str] | None = None) -> None:
        self.profile = tempfile.mkdtemp(prefix="check_html_profile_")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        # Lift the child's ends above 9, so that moving them to fds 3 and 4 cannot clobber them.
        to_child_r, from_child_w = (_fd_at_least(fd, 10) for fd in (to_child_r, from_child_w))
        flags = [*CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", *(extra_flags or [])]
        self.log_path = Path(self.profile) / "chromium.log"
        # posix_spawn moves the pipe ends to fds 3 and 4, where --remote-debugging-pipe wants
        # them (dup2 clears close-on-exec on the copies; the originals close at exec).
        self.pid = os.posix_spawn(
            binary,
            [binary, *flags, "about:blank"],
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, str(self.log_path), os.O_WRONLY | os.O_CREAT, 0o644),
                (os.POSIX_SPAWN_DUP2, 1, 2),
                (os.POSIX_SPAWN_DUP2, to_child_r, 3),
                (os.POSIX_SPAWN_DUP2, from_child_w, 4),
            ],
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._next_id = 0
        self._replies: dict[int, dict] = {}
        self._events: queue.Queue[dict] = queue.Queue()
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read_loop, name="cdp", daemon=True)
        self._reader.start()
        try:
            self.version = self.send("Browser.getVersion", timeout=30)["product"]
        except DevToolsError:
            log = self.log_path.read_text(errors="replace")[-2000:]
            self.close()
            raise DevToolsError(f"Chromium did not start; its log ends with:\n{log}") from None

    def _read_loop(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._from_child, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cond:
                    self._replies[-1] = {"error": {"message": "Chromium closed the pipe"}}
                    self._cond.notify_all()
                return
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                message = json.loads(raw)
                if "id" in message:
                    with self._cond:
                        self._replies[message["id"]] = message
                        self._cond.notify_all()
                else:
                    self._events.put(message)

    def send(
        self,
        method: str,
        params: dict | None = None,
        session: str | None = None,
        timeout: float = 60,
    ) -> dict:
        self._next_id += 1
        msg_id = self._next_id
        message: dict = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._cond:
            while msg_id not in self._replies and -1 not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DevToolsError(f"{method}: no reply within {timeout:.0f} s")
                self._cond.wait(left)
            reply = self._replies.pop(msg_id, None) or self._replies[-1]
        if "error" in reply:
            raise DevToolsError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    def events(self, timeout: float) -> list[dict]:
        """Events that arrived so far, waiting up to `timeout` seconds for the first one."""
        out = []
        try:
            out.append(self._events.get(timeout=timeout))
            while True:
                out.append(self._events.get_nowait())
        except queue.Empty:
            pass
        return out

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except (DevToolsError, OSError):
            pass
        deadline = time.monotonic() + 10
        while os.waitpid(self.pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(self.pid, 9)
                os.waitpid(self.pid, 0)
                break
            time.sleep(0.1)
        for fd in (self._to_child, self._from_child):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)


# ------------------------------------------------------------------ one page


@dataclass
class PageReport:
    page: str
    problems: list[str] = field(default_factory=list)
    n_math: int = 0
    n_images: int = 0


def _is_remote(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss", "ftp"):
        return False  # data:, blob:, about:, chrome-extension:, ...
    return (parts.hostname or "") not in LOCAL_HOSTS


def _console_text(args: list[dict]) -> str:
    texts = []
    for arg in args:
        if "value" in arg:
            texts.append(str(arg["value"]))
        else:
            texts.append(arg.get("description") or arg.get("type", "?"))
    return " ".join(texts)


class PageChecker:
    def __init__(self, browser: Browser, base_url: str, timeout: float) -> None:
        self.browser = browser
        self.base_url = base_url
        self.timeout = timeout
        target = browser.send("Target.createTarget", {"url": "about:blank"})
        self.session = browser.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )["sessionId"]
        for method, params in [
            ("Page.enable", {}),
            ("Runtime.enable", {}),
            ("Log.enable", {}),
            ("Network.enable", {}),
            ("Network.setCacheDisabled", {"cacheDisabled": True}),
            (
                "Emulation.setDeviceMetricsOverride",
                {"width": 1280, "height": 2000, "deviceScaleFactor": 1, "mobile": False},
            ),
        ]:
            self.send(method, params)

    def send(self, method: str, params: dict | None = None, timeout: float | None = None) -> dict:
        return self.browser.send(
            method, params, session=self.session, timeout=timeout or self.timeout
        )

    def evaluate(self, expression: str, timeout: float | None = None):
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
            timeout=timeout,
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise DevToolsError(
                details.get("exception", {}).get("description") or details.get("text")
            )
        return result["result"].get("value")

    def check(self, rel_path: str) -> PageReport:
        report = PageReport(rel_path)
        problems = report.problems
        remote: set[str] = set()
        inflight: set[str] = set()
        state = {"loaded": False}

        def handle(event: dict) -> None:
            if event.get("sessionId") != self.session:
                return
            method, params = event["method"], event.get("params", {})
            if method == "Page.loadEventFired":
                state["loaded"] = True
            elif method == "Network.requestWillBeSent":
                url = params["request"]["url"]
                if _is_remote(url):
                    remote.add(url)
                inflight.add(params["requestId"])
            elif method == "Network.webSocketCreated":
                if _is_remote(params["url"]):
                    remote.add(params["url"])
            elif method in ("Network.loadingFinished", "Network.loadingFailed"):
                inflight.discard(params["requestId"])
                if method == "Network.loadingFailed" and not params.get("canceled"):
                    url = requests.get(params["requestId"], "?")
                    if not _is_remote(url):
                        problems.append(f"failed load: {url}: {params.get('errorText')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                problems.append(f"console error: {_console_text(params.get('args', []))}")
            elif method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                text = details.get("exception", {}).get("description") or details.get("text")
                problems.append(f"uncaught exception: {text.splitlines()[0] if text else '?'}")
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                entry = params["entry"]
                if urlsplit(entry.get("url") or "").path in IGNORED_404:
                    return
                where = f" ({entry['url']})" if entry.get("url") else ""
                problems.append(f"browser error: {entry.get('text')}{where}")
            if method == "Network.requestWillBeSent":
                requests[params["requestId"]] = params["request"]["url"]

        requests: dict[str, str] = {}
        self.browser.events(0)  # drop what is left of the previous page
        self.send("Page.navigate", {"url": self.base_url + rel_path})
        deadline = time.monotonic() + self.timeout
        while not state["loaded"] and time.monotonic() < deadline:
            for event in self.browser.events(0.2):
                handle(event)
        if not state["loaded"]:
            problems.append(f"timeout: the page did not finish loading within {self.timeout:.0f} s")
        try:
            self.evaluate(WAIT_FOR_PAGE_JS % {"timeout_ms": int(self.timeout * 1000)})
        except DevToolsError as err:
            problems.append(f"timeout: waiting for MathJax and images failed: {err}")
        # let late requests (MathJax fonts, widget assets) finish: 0.5 s without traffic
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            events = self.browser.events(0.1)
            for event in events:
                handle(event)
            if events and any(e.get("method", "").startswith("Network.") for e in events):
                quiet_since = time.monotonic()
            if not inflight and time.monotonic() - quiet_since > 0.5:
                break
        try:
            found = self.evaluate(INSPECT_PAGE_JS)
        except DevToolsError as err:
            problems.append(f"check failed: inspecting the page failed: {err}")
            found = {"images": [], "math": [], "nMath": 0, "nImages": 0}
        for event in self.browser.events(0):
            handle(event)
        report.n_math, report.n_images = found["nMath"], found["nImages"]
        problems.extend(f"image did not load: {src}" for src in found["images"])
        problems.extend(f"math: {msg}" for msg in found["math"])
        problems.extend(f"request to a non-local host: {url}" for url in sorted(remote))
        return report

    def screenshot(self, path: Path) -> None:
        data = self.send(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False}
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data["data"]))


# ------------------------------------------------------------------ the whole book


def find_pages(root: Path) -> list[str]:
    pages = []
    for path in sorted(root.rglob("*.html")):
        rel = path.relative_to(root)
        if rel.parts[0] in SKIP_DIRS:
            continue
        pages.append(rel.as_posix())
    return pages


def first_chapter(root: Path, pages: list[str]) -> str | None:
    """book/part1/reverse_process.html, else the page that follows the root page."""
    if FIRST_CHAPTER in pages:
        return FIRST_CHAPTER
    start = "index.html"
    text = (root / start).read_text(errors="replace") if (root / start).is_file() else ""
    refresh = re.search(r'http-equiv="refresh"[^>]*url=([^"\']+)', text, re.I)
    if refresh:
        start = refresh.group(1).strip()
        text = (root / start).read_text(errors="replace") if (root / start).is_file() else ""
    nxt = re.search(r'<link rel="next"[^>]*href="([^"]+)"', text)
    if nxt:
        candidate = (Path(start).parent / nxt.group(1)).as_posix()
        candidate = os.path.normpath(candidate)
        if candidate in pages:
            return candidate
    return pages[0] if pages else None


def find_chromium(explicit: str | None) -> str | None:
    candidates = [
        explicit,
        os.environ.get("CHROMIUM"),
        "/usr/lib/chromium/chromium",
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    for candidate in candidates:
        if not candidate:
            continue
        found = shutil.which(candidate) or (candidate if os.access(candidate, os.X_OK) else None)
        if found:
            return found
    return None


def run(
    html_dir: Path,
    screenshot: Path | None,
    chromium: str,
    timeout: float,
    only: list[str] | None = None,
    verbose: bool = False,
) -> tuple[list[PageReport], list[str]]:
    pages = find_pages(html_dir)
    if only:
        pages = [p for p in pages if any(re.search(pattern, p) for pattern in only)]
    shot_page = first_chapter(html_dir, pages) if screenshot else None
    server, failures, lock = serve(html_dir)
    base_url = f"http://127.0.0.1:{server.server_address[1]}/"
    browser = Browser(chromium)
    reports: list[PageReport] = []
    notes: list[str] = []
    try:
        checker = PageChecker(browser, base_url, timeout)
        for rel in pages:
            started = time.monotonic()
            with lock:
                failures.clear()
            report = checker.check(rel)
            with lock:
                report.problems.extend(
                    f"missing file: the server answered {code} for {path}"
                    for code, path in failures
                )
                failures.clear()
            if rel == shot_page and screenshot:
                checker.screenshot(screenshot)
                notes.append(f"screenshot of {rel} saved to {screenshot}")
            reports.append(report)
            if verbose:
                print(
                    f"  {rel}: {len(report.problems)} problems, {report.n_math} math, "
                    f"{report.n_images} images, {time.monotonic() - started:.1f} s",
                    flush=True,
                )
    finally:
        browser.close()
        server.shutdown()
    return reports, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html_dir", type=Path, nargs="?", default=Path("_build/html"))
    parser.add_argument(
        "--screenshot",
        type=Path,
        default=None,
        help="default: <html_dir>/../screenshots/first-chapter.png",
    )
    parser.add_argument("--no-screenshot", action="store_true")
    parser.add_argument("--chromium", help="Chromium binary (default: $CHROMIUM, else searched)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per page")
    parser.add_argument("--only", action="append", help="check only pages matching this regex")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)

    html_dir = args.html_dir.resolve()
    if not html_dir.is_dir() or not find_pages(html_dir):
        print(f"no HTML pages under {args.html_dir}: build the book first", file=sys.stderr)
        return 2
    chromium = find_chromium(args.chromium)
    if chromium is None:
        print(
            "Chromium not found: apt-get install chromium (or set CHROMIUM=/path/to/chrome)",
            file=sys.stderr,
        )
        return 2
    screenshot = None
    if not args.no_screenshot:
        screenshot = args.screenshot or html_dir.parent / "screenshots" / "first-chapter.png"
    try:
        reports, notes = run(html_dir, screenshot, chromium, args.timeout, args.only, args.verbose)
    except (DevToolsError, OSError) as err:
        print(f"could not drive Chromium ({chromium}): {err}", file=sys.stderr)
        return 2

    n_problems = sum(len(r.problems) for r in reports)
    by_kind: dict[str, int] = defaultdict(int)
    for report in reports:
        if report.problems:
            print(f"\n{report.page}")
            for problem in report.problems:
                print(f"  - {problem}")
                by_kind[problem.split(":")[0]] += 1
    for note in notes:
        print(note)
    n_math = sum(r.n_math for r in reports)
    print(f"({n_math} math elements and {sum(r.n_images for r in reports)} images looked at)")
    print(f"checked {len(reports)} pages, {n_problems} problems")
    if n_problems:
        print("problems by kind: " + ", ".join(f"{k}: {v}" for k, v in sorted(by_kind.items())))
    return 1 if n_problems else 0


if __name__ == "__main__":
    sys.exit(main())
