"""A forgotten password, from the sign-in page to the recordings, with the code the local stack mails."""

from __future__ import annotations

from typing import Any

import requests
from playwright.sync_api import Page, expect

from tests.support.accounts import PASSWORD, mailed_code
from tests.support.local_stack import RunningStack

NEW_PASSWORD = "Reset-In-The-Browser-7"


def test_a_forgotten_password_is_reset_from_the_sign_in_page(
    page: Page, stack: RunningStack, account: dict[str, Any]
) -> None:
    email = account["email"]
    page.goto(f"{stack.site}/index.html")
    page.fill("#email", email)
    page.click("#forgot")
    expect(page.locator("#reset-form")).to_be_visible()
    expect(page.locator("#auth-form")).to_be_hidden()
    expect(page.locator("#reset-email")).to_have_value(email)
    page.click("#send-code")
    expect(page.locator("#reset-message")).to_contain_text("If this address has an account")

    # A wrong code is refused and says so; the form stays for another try.
    code = mailed_code(stack.mailbox, email, "password reset code")
    page.fill("#reset-code", f"{(int(code) + 1) % 1_000_000:06d}")
    page.fill("#reset-password", NEW_PASSWORD)
    page.click("#reset-submit")
    expect(page.locator("#reset-message")).to_have_text("The code is wrong or expired")

    page.fill("#reset-code", code)
    page.click("#reset-submit")
    # Signed in with the new password: the recordings replace the sign-in section.
    expect(page.locator("#recordings-section")).to_be_visible()
    expect(page.locator("#auth")).to_be_hidden()
    assert page.evaluate("JSON.parse(localStorage.getItem('rrweb.tokens')).accessToken")

    old = requests.post(f"{stack.api}/auth/signin", json={"email": email, "password": PASSWORD}, timeout=30)
    assert old.status_code == 401
