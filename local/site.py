"""Serves the site (``site/public``) on the local stack, with a generated config.json.

On AWS the site bucket holds the same files and the program writes config.json; here
the stack answers /config.json itself with the running stack's URLs and Cognito ids.
Like the bucket behind CloudFront, it lists no folder (a folder without an index page
is a 404), and it reads requests as strictly as the API does (``strict_http``): idle
and slow clients are cut off, and a malformed request gets one 400.
"""

from __future__ import annotations

import json
import os
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from . import ROOT, STOP_POLL_SECONDS
from .strict_http import StrictRequestHandler

SITE_DIR = ROOT / "site" / "public"
_INDEX_PAGES = ("index.html", "index.htm")
# What a person who opens a missing page sees (CloudFront's custom error response on AWS).
NOT_FOUND_PAGE = "404.html"


class SiteRequestHandler(StrictRequestHandler, SimpleHTTPRequestHandler):
    """The site's files (and its /config.json), served the way CloudFront serves them on AWS."""

    config: bytes = b"{}"
    # Only GET and HEAD, of static files: no request carries a body.
    max_body_bytes = 0

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == "/config.json":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(self.config)))
            self.end_headers()
            self.wfile.write(self.config)
            return
        super().do_GET()

    def send_head(self) -> Any:
        path = self.translate_path(self.path)
        if os.path.isdir(path) and not any(os.path.isfile(os.path.join(path, name)) for name in _INDEX_PAGES):
            # Neither a listing nor a redirect to one (which would say the folder exists).
            self.send_error(404)
            return None
        return super().send_head()

    def list_directory(self, path: str | os.PathLike[str]) -> None:
        self.send_error(404)

    def end_headers(self) -> None:
        # The bookmarklet loads assets/bookmarklet.js into pages of any origin.
        if self.path.startswith("/assets/"):
            self.send_header("Access-Control-Allow-Origin", "*")
        super().end_headers()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """A missing page is the site's own 404 page, as CloudFront serves it; anything else as the API answers."""
        page = Path(self.directory) / NOT_FOUND_PAGE
        if code != 404 or self.command not in ("GET", "HEAD") or not page.is_file():
            super().send_error(code, message, explain)
            return
        body = page.read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (signature of the base class)
        return


class SiteServer:
    """A static file server for the site, in a thread of the stack's process."""

    def __init__(self, *, host: str, port: int, config: dict[str, str], directory: Path = SITE_DIR) -> None:
        if not (directory / "assets").is_dir():
            raise RuntimeError(f"the site is not built: run `make site` (npm ci and build in {directory.parent})")
        handler = type("SiteHandler", (SiteRequestHandler,), {"config": json.dumps(config).encode()})
        self._server = ThreadingHTTPServer((host, port), partial(handler, directory=str(directory)))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": STOP_POLL_SECONDS}, name="site", daemon=True
        )

    def start(self) -> None:
        """Serve in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
