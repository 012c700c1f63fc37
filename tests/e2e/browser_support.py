"""Headless Chromium for the browser test: find (or install) it, and load one page.

The page is loaded with --dump-dom: Chromium prints the DOM once the page has settled.
--virtual-time-budget makes it wait for the page's network activity (fetch, beacon)
before that, so the script's results are in the dumped DOM without any sleeping here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"


def require_chromium() -> str:
    """Chromium's path; installs the Debian package when root, else skips (fails under CI)."""
    found = shutil.which("chromium") or (CHROMIUM if os.path.exists(CHROMIUM) else None)
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        result = subprocess.run(["apt-get", "install", "-y", "chromium"], env=env,
                                capture_output=True, text=True, timeout=900)
        if result.returncode != 0:  # a stale package index: refresh once and retry
            subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=600)
            subprocess.run(["apt-get", "install", "-y", "chromium"], env=env,
                           capture_output=True, timeout=900)
        found = shutil.which("chromium")
        if found:
            return found
    reason = "Chromium is not installed (apt-get install chromium) and cannot be installed here"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; required under CI=true")
    pytest.skip(reason)


def dump_dom(chromium: str, url: str, profile: Path, budget_ms: int = 20_000) -> str:
    args = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--no-first-run", "--no-default-browser-check",
        "--disable-extensions", f"--user-data-dir={profile}",
        f"--virtual-time-budget={budget_ms}", "--dump-dom", url,
    ]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise AssertionError(f"chromium failed ({result.returncode}): {result.stderr[-3000:]}")
    return result.stdout


@contextmanager
def serve_page(html: str) -> Iterator[str]:
    """A second origin: an HTTP server on its own port serving one page at /."""
    body = html.encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
