"""What a recording's browser was: browser, operating system and kind of device, from its User-Agent.

A deliberately small parser with no dependency: it names the browsers and systems that
make up nearly all traffic and says nothing (None) about the rest, rather than guess.

- **browser**: ``Chrome``, ``Edge``, ``Firefox``, ``Safari``, ``Opera``, ``Samsung Internet``.
  Browsers built on another's engine announce their own token beside it (Edge's ``Edg/``,
  Opera's ``OPR/``, Samsung's ``SamsungBrowser/``), so those are looked for first; on iOS
  every browser is Safari's engine and names itself with its own token (``CriOS/``,
  ``FxiOS/``, ``EdgiOS/``, ``OPiOS/``).
- **os**: ``iOS``, ``Android``, ``Windows``, ``macOS``, ``Linux``, ``ChromeOS``. iOS and
  Android are checked before macOS and Linux, whose names their User-Agents also carry.
- **device**: ``bot`` (crawlers, command-line clients, headless browsers: no person
  watching), ``tablet`` (iPad; Android or Firefox saying ``Tablet``; Android without
  ``Mobile``), ``mobile`` (iPhone, iPod, ``Mobile``/``Mobi``), else ``desktop`` when a
  browser or system was recognised, else None. An iPad asking for the desktop site
  (iPadOS's default) sends a Mac's User-Agent and counts as a desktop Mac.
"""

from __future__ import annotations

from dataclasses import dataclass

# A User-Agent is read this far: every token this parser looks for comes earlier in
# real ones, and a header of kilobytes costs no more than a normal one.
_MAX_LENGTH = 512

# (token, browser): the first token found names the browser, so a browser built on
# another's engine comes before the engine's own token.
_BROWSERS: tuple[tuple[str, str], ...] = (
    ("samsungbrowser/", "Samsung Internet"),
    ("opr/", "Opera"),
    ("opios/", "Opera"),
    ("opt/", "Opera"),
    ("opera", "Opera"),
    ("edg/", "Edge"),
    ("edga/", "Edge"),
    ("edgios/", "Edge"),
    ("edge/", "Edge"),
    ("fxios/", "Firefox"),
    ("firefox/", "Firefox"),
    ("crios/", "Chrome"),
    ("headlesschrome/", "Chrome"),
    ("chromium/", "Chrome"),
    ("chrome/", "Chrome"),
)

# (token, os), first match wins: iOS and Android before the desktop systems they name.
_SYSTEMS: tuple[tuple[str, str], ...] = (
    ("iphone", "iOS"),
    ("ipad", "iOS"),
    ("ipod", "iOS"),
    ("android", "Android"),
    ("cros ", "ChromeOS"),
    ("windows", "Windows"),
    ("macintosh", "macOS"),
    ("mac os x", "macOS"),
    ("linux", "Linux"),
)

# Automated clients: crawlers name themselves (``Googlebot/2.1``, ``bingbot/2.0``, often
# with a ``+http`` link), tools send their own name. A bare "bot" would also match phone
# models (``CUBOT P30``), so only a crawler's token shapes are looked for.
_BOTS: tuple[str, ...] = (
    "bot/",
    "bot;",
    "bot)",
    "+http",
    "crawl",
    "spider",
    "slurp",
    "headless",
    "lighthouse",
    "facebookexternalhit",
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "go-http-client",
    "okhttp",
    "httpclient",
)


@dataclass(frozen=True, kw_only=True)
class Agent:
    """What a User-Agent says: each None when it does not say (or not recognisably)."""

    browser: str | None = None
    os: str | None = None
    device: str | None = None


def _first(text: str, table: tuple[tuple[str, str], ...]) -> str | None:
    return next((name for token, name in table if token in text), None)


def parse(user_agent: str | None) -> Agent:
    """The browser, system and device of a User-Agent header (see the module's docstring)."""
    text = (user_agent or "")[:_MAX_LENGTH].lower()
    if not text.strip():
        return Agent()
    browser = _first(text, _BROWSERS)
    system = _first(text, _SYSTEMS)
    # Safari is the engine's own name, carried by every WebKit and Blink browser: it is
    # Safari only when nothing else claimed the User-Agent and Apple's Version/ is there.
    if browser is None and "safari/" in text and ("version/" in text or system == "iOS"):
        browser = "Safari"
    if any(token in text for token in _BOTS):
        device: str | None = "bot"
    elif "ipad" in text or "tablet" in text or (system == "Android" and "mobile" not in text):
        device = "tablet"
    elif "mobi" in text or "iphone" in text or "ipod" in text:
        device = "mobile"
    elif browser is not None or system is not None:
        device = "desktop"
    else:
        device = None
    return Agent(browser=browser, os=system, device=device)
