"""The User-Agent parser names browser, system and device of real browsers' User-Agents."""

from __future__ import annotations

import pytest

from chalicelib.useragent import Agent, parse

# Real User-Agent strings, as the browsers and crawlers send them.
CASES: list[tuple[str, tuple[str | None, str | None, str | None]]] = [
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        ("Chrome", "Windows", "desktop"),
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
        ("Edge", "Windows", "desktop"),
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0",
        ("Opera", "Windows", "desktop"),
    ),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", ("Firefox", "Linux", "desktop")),
    (
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0",
        ("Firefox", "Linux", "desktop"),
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.2 Safari/605.1.15",
        ("Safari", "macOS", "desktop"),
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        ("Chrome", "macOS", "desktop"),
    ),
    (
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        ("Chrome", "ChromeOS", "desktop"),
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.2 Mobile/15E148 Safari/604.1",
        ("Safari", "iOS", "mobile"),
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/16.6 Mobile/15E148 Safari/604.1",
        ("Safari", "iOS", "tablet"),
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
        ("Chrome", "iOS", "mobile"),
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "FxiOS/121.0 Mobile/15E148 Safari/605.1.15",
        ("Firefox", "iOS", "mobile"),
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.0 EdgiOS/120.0.2210.116 Mobile/15E148 Safari/605.1.15",
        ("Edge", "iOS", "mobile"),
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Mobile Safari/537.36",
        ("Chrome", "Android", "mobile"),
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        ("Chrome", "Android", "tablet"),
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
        ("Samsung Internet", "Android", "mobile"),
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; VOG-L29) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Mobile Safari/537.36 OPR/79.2.4194.76607",
        ("Opera", "Android", "mobile"),
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Mobile Safari/537.36 EdgA/120.0.2210.115",
        ("Edge", "Android", "mobile"),
    ),
    ("Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0", ("Firefox", "Android", "mobile")),
    ("Mozilla/5.0 (Android 14; Tablet; rv:121.0) Gecko/121.0 Firefox/121.0", ("Firefox", "Android", "tablet")),
    (
        "Mozilla/5.0 (Linux; Android 9; CUBOT P30) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Mobile Safari/537.36",
        ("Chrome", "Android", "mobile"),
    ),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", (None, None, "bot")),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", (None, None, "bot")),
    (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.6099.71 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        ("Chrome", "Android", "bot"),
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/120.0.6099.28 Safari/537.36",
        ("Chrome", "Linux", "bot"),
    ),
    ("curl/8.4.0", (None, None, "bot")),
    ("python-requests/2.31.0", (None, None, "bot")),
]


@pytest.mark.parametrize(("user_agent", "expected"), CASES, ids=[f"{e[0]}-{e[1]}-{e[2]}" for _, e in CASES])
def test_real_user_agents_are_named(user_agent: str, expected: tuple[str | None, str | None, str | None]) -> None:
    agent = parse(user_agent)
    assert (agent.browser, agent.os, agent.device) == expected


@pytest.mark.parametrize("user_agent", [None, "", "   ", "SomethingElse/1.0", "x" * 10_000])
def test_nothing_recognisable_says_nothing(user_agent: str | None) -> None:
    assert parse(user_agent) == Agent()


def test_only_the_start_of_a_huge_header_is_read() -> None:
    # A token past the first 512 characters is not looked at, so a long header costs the same.
    assert parse("x" * 600 + " Firefox/121.0") == Agent()
    assert parse("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Firefox/121.0" + "x" * 10_000).browser == "Firefox"
