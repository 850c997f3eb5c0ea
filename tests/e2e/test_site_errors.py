"""What the site says when something goes wrong: weak passwords, ended sessions, no API."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.support.accounts import PASSWORD
from tests.support.browser import signed_in, with_tokens
from tests.support.local_stack import RunningStack, free_port

GARBAGE = {"accessToken": "not-a-token", "idToken": "not-a-token", "refreshToken": "not-a-token"}
WEAK = "password"


def test_sign_up_names_the_password_rules_and_says_the_apis_reason(page: Page, stack: RunningStack) -> None:
    page.goto(f"{stack.site}/index.html")
    rules = page.locator("#password-rules")
    expect(rules).to_be_visible()
    expect(rules).to_contain_text("12 characters")
    expect(page.locator("#password")).to_have_attribute("aria-describedby", "password-rules")

    refused = requests.post(
        f"{stack.api}/auth/signup",
        json={"email": f"weak-{uuid.uuid4().hex[:8]}@example.com", "password": WEAK},
        timeout=30,
    )
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "invalid_password"

    page.fill("#email", f"weak-{uuid.uuid4().hex[:8]}@example.com")
    page.fill("#password", WEAK)
    page.click("#sign-up")
    expect(page.locator("#auth-message")).to_have_text(error["message"][0].upper() + error["message"][1:])
    expect(page.locator("#confirm-row")).to_be_hidden()
    # What it shows is the API's own words naming the rules, never the identity provider's.
    assert "12" in error["message"]
    assert "conform" not in error["message"]
    assert "confirm to" not in error["message"]


@pytest.mark.parametrize("opened", ["/keys.html", "/keys.html?from=mail"])
def test_an_ended_session_signs_in_again_and_comes_back(
    page: Page, stack: RunningStack, account: dict[str, Any], opened: str
) -> None:
    with_tokens(page, stack, GARBAGE)
    # The page sends an ended session to sign in at once, often before its own load event:
    # waiting for that load would see the navigation aborted.
    page.goto(f"{stack.site}{opened}", wait_until="commit")
    expect(page).to_have_url(f"{stack.site}/index.html?next={quote(opened, safe='')}")
    expect(page.locator("#auth")).to_be_visible()
    expect(page.locator("#auth-next")).to_be_visible()
    assert page.evaluate("localStorage.getItem('rrweb.tokens')") is None

    page.fill("#email", account["email"])
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    expect(page).to_have_url(f"{stack.site}{opened}")
    expect(page.locator("#keys li").first).to_be_visible()


def test_an_expired_access_token_is_refreshed_in_place(
    page: Page, stack: RunningStack, account: dict[str, Any]
) -> None:
    with_tokens(page, stack, {**account["tokens"], "accessToken": "expired"})
    page.goto(f"{stack.site}/keys.html")
    expect(page.locator("#keys li").first).to_be_visible()
    expect(page).to_have_url(f"{stack.site}/keys.html")
    tokens = page.evaluate("JSON.parse(localStorage.getItem('rrweb.tokens'))")
    assert tokens["accessToken"] != "expired"
    assert tokens["refreshToken"] == account["tokens"]["refreshToken"]


@pytest.mark.parametrize("next_", ["//evil.example/keys.html", "https://evil.example/", "javascript:alert(1)"])
def test_next_never_leaves_the_site(page: Page, stack: RunningStack, account: dict[str, Any], next_: str) -> None:
    page.goto(f"{stack.site}/index.html?next={quote(next_, safe='')}")
    page.fill("#email", account["email"])
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    expect(page.locator("#recordings-section")).to_be_visible()
    assert page.url.startswith(f"{stack.site}/index.html")


def test_next_may_name_a_page_of_the_site(page: Page, stack: RunningStack, account: dict[str, Any]) -> None:
    page.goto(f"{stack.site}/index.html?next=keys.html")
    page.fill("#email", account["email"])
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    expect(page).to_have_url(f"{stack.site}/keys.html")


@pytest.fixture
def no_api(page: Page, stack: RunningStack) -> str:
    """config.json names an API address where nothing listens; returns that address."""
    config = requests.get(f"{stack.site}/config.json", timeout=30).json()
    gone = f"http://127.0.0.1:{free_port()}"
    page.route(f"{stack.site}/config.json", lambda route: route.fulfill(json={**config, "apiUrl": gone}))
    return gone


def test_an_unreachable_api_is_named_on_the_sign_in_form(page: Page, stack: RunningStack, no_api: str) -> None:
    page.goto(f"{stack.site}/index.html")
    page.fill("#email", "someone@example.com")
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    expect(page.locator("#auth-message")).to_have_text(f"Cannot reach the API at {no_api}; is it running?")


@pytest.mark.parametrize(("path", "where"), [("/index.html", "#more"), ("/keys.html", "#keys-status")])
def test_an_unreachable_api_is_named_on_signed_in_pages(
    page: Page, stack: RunningStack, account: dict[str, Any], no_api: str, path: str, where: str
) -> None:
    signed_in(page, stack, account)
    page.goto(f"{stack.site}{path}")
    expect(page.locator(where)).to_have_text(f"Cannot reach the API at {no_api}; is it running?")
    expect(page.locator("body")).not_to_contain_text("Failed to fetch")


@pytest.mark.parametrize("path", ["/index.html", "/keys.html"])
def test_pages_carry_the_favicon(page: Page, stack: RunningStack, account: dict[str, Any], path: str) -> None:
    signed_in(page, stack, account)  # keys.html sends a signed-out visitor away at once
    page.goto(f"{stack.site}{path}")
    icon = page.locator('head link[rel="icon"]')
    expect(icon).to_have_attribute("href", "favicon.svg")
    expect(icon).to_have_attribute("type", "image/svg+xml")
    served = requests.get(f"{stack.site}/favicon.svg", timeout=30)
    assert served.status_code == 200
    assert served.headers["Content-Type"].startswith("image/svg+xml")
    loaded = page.evaluate(
        """() => new Promise(resolve => {
            const image = new Image();
            image.onload = () => resolve(image.naturalWidth > 0);
            image.onerror = () => resolve(false);
            image.src = document.querySelector('link[rel=icon]').href;
        })"""
    )
    assert loaded
