"""A small shop whose look depends on its assets, served on loopback, and a recorded visit of it.

Its pages share an image, a web font and a large stylesheet (which also paints a CSS
background). ``change_every_asset`` replaces each with other bytes and ``stop`` takes the
site away, so a test or benchmark can show the replay does not depend on the origin.
"""

from __future__ import annotations

import base64
import random
import shutil
import struct
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from tests.support.browser import add_recorder_script
from tests.support.embedded_aws import free_port
from tests.support.local_stack import RunningStack
from tests.support.waiting import eventually

FONTS = Path("/usr/share/fonts/truetype/dejavu")
PAGES = ("index.html", "about.html")


def png(width: int, height: int, color: tuple[int, int, int], stripe: tuple[int, int, int]) -> bytes:
    """An RGB PNG: ``color`` with a ``stripe`` every 10 rows, so a changed one shows."""
    rows = b"".join(b"\x00" + bytes(stripe if (y // 10) % 2 else color) * width for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def noise_png(width: int, height: int, seed: int) -> bytes:
    """An RGB PNG of noise: it does not compress, like a photo (``width`` x ``height`` x 3 bytes)."""
    rows = random.Random(seed).randbytes(height * (width * 3 + 1))
    rows = b"".join(b"\x00" + rows[y * (width * 3 + 1) + 1 : (y + 1) * (width * 3 + 1)] for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 1)) + chunk(b"IEND", b"")


def stylesheet(background: str, text: str, rules: int = 14000) -> str:
    """The shop's stylesheet: the web font, a CSS background image, and many rules (about 500 KB)."""
    filler = "".join(f".r{i} {{ margin: {i % 7}px; color: #{i % 4096:03x}; }}\n" for i in range(rules))
    return f"""@font-face {{ font-family: "Shop"; src: url("shop.ttf") format("truetype"); }}
body {{ margin: 0; font: 28px "Shop", monospace; color: {text}; background: {background}; }}
.banner {{ height: 60px; background: url("banner.png") repeat-x; }}
{filler}"""


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title><link rel="stylesheet" href="shop.css"></head>
<body><div class="banner"></div><h1 id="title">{title}</h1><img id="hero" src="{hero}" width="300" height="150">
<img id="logo" src="data:image/png;base64,{logo}" width="120" height="40">
<p>Quiet shop, loud fonts.</p><a id="next" href="{other}">{other}</a></body></html>
"""
# The page with a 2 MB photo and the 500 KB stylesheet: what the recorder's main-thread budget is measured on.
HEAVY = "heavy.html"


# A page whose "images" try to run script: an SVG with a <script> (kept: an image type),
# the same SVG in an <embed>, and an HTML page named as an image (not kept: not an image);
# and an image inside an element rrweb blocks, which must not be read at all.
HOSTILE = "hostile.html"
HOSTILE_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Hostile</title></head>
<body><img id="svg" src="evil.svg" width="100" height="100"><img id="html" src="evil.html" width="100" height="100">
<embed id="embed" src="evil.svg" type="image/svg+xml" width="100" height="100">
<div class="rr-block"><img id="blocked" src="blocked.png" width="100" height="50"></div></body></html>
"""
# Each tells the top window, and renames it, if it ever runs anywhere but on the shop's
# own page (the <embed> runs the SVG's script there, as any browser would).
CANARY = """<script>
var own = false;
try { own = top.location.pathname.endsWith("/hostile.html"); } catch (e) {}
if (!own) {
  try { top.postMessage("{name}-script-ran", "*"); } catch (e) {}
  try { top.document.title = "pwned"; } catch (e) {}
}
</script>"""
EVIL_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><rect width="100" height="100" fill="#c03"/>'
    + CANARY.replace("{name}", "svg")
    + "</svg>\n"
)
EVIL_HTML = "<!doctype html>" + CANARY.replace("{name}", "html") + "\n"


class _Quiet(SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        # A site that revalidates: a changed asset would show at once if the replay used it.
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, *args: Any) -> None:
        return


@dataclass
class AssetSite:
    """The shop's folder and server."""

    folder: Path
    url: str
    server: ThreadingHTTPServer

    @classmethod
    @contextmanager
    def serving(cls, folder: Path) -> Iterator[AssetSite]:
        """Write the shop into ``folder`` and serve it on a free loopback port until the block ends."""
        folder.mkdir(parents=True, exist_ok=True)
        cls.write(folder, variant=0)
        server = ThreadingHTTPServer(("127.0.0.1", free_port()), partial(_Quiet, directory=str(folder)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        site = cls(folder=folder, url=f"http://127.0.0.1:{server.server_address[1]}", server=server)
        try:
            yield site
        finally:
            site.stop()

    @staticmethod
    def write(folder: Path, *, variant: int) -> None:
        """The shop's files; variant 1 has other bytes for every asset (same names)."""
        colors = [((30, 90, 200), (250, 200, 40)), ((200, 30, 30), (20, 160, 60))][variant]
        (folder / "hero.png").write_bytes(png(300, 150, *colors))
        (folder / "banner.png").write_bytes(png(40, 60, colors[1], colors[0]))
        font = ["DejaVuSerif-Bold.ttf", "DejaVuSansMono.ttf"][variant]
        shutil.copyfile(FONTS / font, folder / "shop.ttf")
        background, text = [("#fdf6e3", "#073642"), ("#002b36", "#eee8d5")][variant]
        (folder / "shop.css").write_text(stylesheet(background, text))
        # An inline logo, as many sites embed one: without the asset store every recording
        # keeps these bytes again.
        logo = base64.b64encode(noise_png(120, 40, seed=variant)).decode()
        for name, other in zip(PAGES, reversed(PAGES), strict=True):
            (folder / name).write_text(PAGE.format(title=f"Shop {name}", other=other, hero="hero.png", logo=logo))
        (folder / "photo.png").write_bytes(noise_png(820, 820, seed=10 + variant))  # about 2 MB
        (folder / HEAVY).write_text(PAGE.format(title="Shop photo", other=PAGES[0], hero="photo.png", logo=logo))
        (folder / HOSTILE).write_text(HOSTILE_PAGE)
        (folder / "evil.svg").write_text(EVIL_SVG)
        (folder / "evil.html").write_text(EVIL_HTML)
        (folder / "blocked.png").write_bytes(png(100, 50, *colors))

    def change_every_asset(self) -> None:
        """The site's next release: every image, the font and the stylesheet are other bytes."""
        self.write(self.folder, variant=1)

    def stop(self) -> None:
        """The site goes away: nothing answers on its address any more."""
        self.server.shutdown()
        self.server.server_close()


def record_visit(page: Page, stack: RunningStack, account: dict[str, Any], site: str) -> tuple[str, dict[str, Any]]:
    """Record a visit of the shop's first page with the recorder script; (recording id, its asset stats)."""
    created = account["http"].post(
        f"{stack.api}/keys", json={"name": "asset shop"}, headers=account["headers"], timeout=30
    )
    assert created.status_code == 201, created.text
    page.goto(f"{site}/index.html")
    page.wait_for_function("document.fonts.status === 'loaded' && document.querySelector('#hero').complete")
    add_recorder_script(page, stack, created.json()["key"], screenshot="false")
    page.mouse.move(50, 50)
    page.mouse.move(120, 90)
    # Until the snapshot's assets are asked about and uploaded (or were held already).
    page.wait_for_function(
        "(s => s.kept >= 4 && s.uploaded + Object.keys(s.notKept).length >= 0)(window.RrwebS3.recorder.assets())",
        timeout=10_000,
    )
    page.wait_for_timeout(1500)
    stopped = page.evaluate("window.RrwebS3.recorder.stop()")
    assert stopped["drained"], stopped
    stats = page.evaluate("window.RrwebS3.recorder.assets()")
    recording_id = page.evaluate("window.RrwebS3.recorder.id")
    emitted = page.evaluate("window.RrwebS3.recorder.stats.emitted")
    described = f"{stack.api}/recordings/{recording_id}"

    def all_stored() -> None:
        count = account["http"].get(described, headers=account["headers"], timeout=30).json()["eventCount"]
        assert count >= emitted, "the recording's events were never all stored"

    eventually(all_stored, 60)
    return recording_id, stats


def equal_pixels(page: Page, first: bytes, second: bytes) -> float:
    """The share of pixels two PNG screenshots of one size have equal, counted in the browser."""
    return float(
        page.evaluate(
            """async ([a, b]) => {
                const load = async (data) => {
                    const image = await createImageBitmap(await (await fetch(`data:image/png;base64,${data}`)).blob());
                    const canvas = new OffscreenCanvas(image.width, image.height);
                    canvas.getContext("2d").drawImage(image, 0, 0);
                    return canvas.getContext("2d").getImageData(0, 0, image.width, image.height);
                };
                const [x, y] = [await load(a), await load(b)];
                if (x.width !== y.width || x.height !== y.height) return 0;
                let same = 0;
                for (let i = 0; i < x.data.length; i += 4) {
                    const rgb = [0, 1, 2].every((c) => x.data[i + c] === y.data[i + c]);
                    if (rgb) same += 1;
                }
                return same / (x.width * x.height);
            }""",
            [base64.b64encode(first).decode(), base64.b64encode(second).decode()],
        )
    )
