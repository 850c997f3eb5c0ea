"""A team workspace in the browser: created on the members page, a teammate invited, signed in, replaying."""

from __future__ import annotations

import json
import re
import urllib.parse
import uuid
from typing import Any

import requests
from playwright.sync_api import Browser, Page, Route, expect

from tests.support.accounts import PASSWORD, sign_up_and_in
from tests.support.browser import signed_in
from tests.support.local_stack import RunningStack

EVENTS = [
    {"type": 4, "timestamp": 1_000, "data": {"href": "https://shop.example/", "width": 800, "height": 600}},
    {
        "type": 2,
        "timestamp": 1_001,
        "data": {
            "node": {
                "type": 0,
                "id": 1,
                "childNodes": [
                    {
                        "type": 2,
                        "id": 2,
                        "tagName": "html",
                        "attributes": {},
                        "childNodes": [
                            {
                                "type": 2,
                                "id": 3,
                                "tagName": "body",
                                "attributes": {},
                                "childNodes": [{"type": 3, "id": 4, "textContent": "Team checkout page"}],
                            }
                        ],
                    }
                ],
            },
            "initialOffset": {"left": 0, "top": 0},
        },
    },
    {"type": 3, "timestamp": 3_000, "data": {"source": 1, "positions": [{"x": 5, "y": 5, "id": 4, "timeOffset": 0}]}},
]


def team_workspace(page: Page, stack: RunningStack, account: dict[str, Any], name: str) -> str:
    """Sign in, make a team workspace on the members page (the switcher moves into it); its id."""
    signed_in(page, stack, account)
    page.goto(f"{stack.site}/members.html")
    page.fill("#workspace-new-name", name)
    page.click("#create-workspace button")
    expect(page.locator("#workspace-name")).to_have_text(f"Members of {name}")
    return str(page.evaluate("localStorage.getItem('rrweb.workspace')"))


def test_an_invited_teammate_signs_in_from_the_link_and_replays_the_teams_recording(
    page: Page, browser: Browser, stack: RunningStack, account: dict[str, Any]
) -> None:
    # Alice makes a team workspace on the members page, and the switcher moves her into it.
    workspace = team_workspace(page, stack, account, "Shop team")
    expect(page.locator("#workspace")).to_have_value(workspace)

    # A recording in the team workspace (as its keys would record it).
    team = {**account["headers"], "X-Workspace": workspace}
    created = account["http"].post(f"{stack.api}/recordings", json={"title": "Team checkout"}, headers=team, timeout=30)
    assert created.status_code == 201, created.text
    recording_id = created.json()["recording"]["id"]
    posted = account["http"].post(
        f"{stack.api}/recordings/{recording_id}/events",
        data=json.dumps({"seq": 0, "events": EVENTS}),
        headers={**team, "Content-Type": "application/json"},
        timeout=30,
    )
    assert posted.status_code == 202, posted.text

    # Bob has an account; Alice invites his address and copies the link.
    bob_email, _ = sign_up_and_in(stack.api, requests.Session())
    page.fill("#allowed-domain", bob_email.rsplit("@", 1)[1])
    page.click("#domain button")
    expect(page.locator("#members-status")).to_have_text(
        f"Invites go to addresses of {bob_email.rsplit('@', 1)[1]} only."
    )
    page.fill("#invite-email", "someone@elsewhere.example")
    page.click("#invite button")
    expect(page.locator("#members-status")).to_contain_text("invites addresses of")
    page.fill("#invite-email", bob_email.upper())
    page.click("#invite button")
    expect(page.locator("#invite-link-value")).to_contain_text("invite=rri_")
    link = page.locator("#invite-link-value").inner_text()
    expect(page.locator("#invites li")).to_have_count(1)

    # Bob, in a browser of his own, opens it, signs in, and is in the workspace.
    bobs = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        bob = bobs.new_page()
        bob.goto(link)
        expect(bob.locator("#invite-notice")).to_contain_text("sign in")
        bob.fill("#email", bob_email)
        bob.fill("#password", PASSWORD)
        bob.click("#sign-in")
        expect(bob.locator("#invite-notice")).to_have_text("You joined Shop team.")
        assert "invite=" not in bob.url, "the token leaves the address bar"
        expect(bob.locator("#workspace")).to_have_value(workspace)
        card = bob.locator("#recordings a", has_text="Team checkout")
        expect(card).to_have_count(1, timeout=30_000)
        card.first.click()
        bob.wait_for_function("window.__replayEvents >= 3", timeout=30_000)
        expect(bob.frame_locator(".replayer-wrapper iframe").locator("body")).to_contain_text("Team checkout page")
        # The replay page's header switches workspaces too: to that workspace's list.
        expect(bob.locator("#workspace")).to_have_value(workspace)
        bob.select_option("#workspace", "")
        bob.wait_for_url("**/index.html")
        expect(bob.locator("#recordings a", has_text="Team checkout")).to_have_count(0)

        # The link is spent, and Alice sees Bob among the members; removed, he is refused at once.
        expect(page.locator("#invites li")).to_have_count(1)
        page.reload()
        expect(page.locator("#members li")).to_have_count(2)
        expect(page.locator("#invites li")).to_have_count(0)
        # A member is told keys are the admins', with no form that would be refused.
        bob.goto(f"{stack.site}/keys.html")
        bob.select_option("#workspace", workspace)  # back from his personal one
        expect(bob.locator("#workspace")).to_have_value(workspace)
        expect(bob.locator("#keys-status")).to_have_text("Only this workspace's admins see and make its ingest keys.")
        expect(bob.locator("#create-key")).to_be_hidden()
        # Alice makes Bob an admin: his next page shows the workspace's keys.
        page.get_by_label(f"Role of {bob_email}").select_option("admin")
        expect(page.locator("#members-status")).to_have_text(f"{bob_email} is now an admin.")
        bob.goto(f"{stack.site}/keys.html")
        expect(bob.locator("#keys li").first).to_be_visible()  # listed only when the API lets him
        expect(bob.locator("#keys-status")).not_to_have_class("error")
        page.once("dialog", lambda dialog: dialog.accept())
        page.locator("#members li", has_text=bob_email).get_by_role("button", name="Remove").click()
        expect(page.locator("#members li")).to_have_count(1)
        bob.goto(f"{stack.site}/index.html")
        expect(bob.locator("#workspace")).to_have_value("")
        expect(bob.locator("#recordings a", has_text="Team checkout")).to_have_count(0)
    finally:
        bobs.close()


def test_an_admin_deletes_every_recording_of_one_person_from_the_filtered_list(
    page: Page, stack: RunningStack, account: dict[str, Any]
) -> None:
    http, headers = account["http"], account["headers"]
    for user in ("person-x", "person-x", "person-y"):
        created = http.post(f"{stack.api}/recordings", json={"user": {"id": user}}, headers=headers, timeout=30)
        assert created.status_code == 201, created.text
    signed_in(page, stack, account)
    page.goto(f"{stack.site}/index.html?user=person-x")
    expect(page.locator("#recordings > *")).to_have_count(2, timeout=30_000)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete-person")
    expect(page.locator("#person-status")).to_have_text("Deleted 2 recordings of person-x.")
    expect(page.locator("#recordings > *")).to_have_count(0)
    page.goto(f"{stack.site}/index.html?user=person-y")
    expect(page.locator("#recordings > *")).to_have_count(1, timeout=30_000)


def test_the_lists_selection_is_deleted_at_once(page: Page, stack: RunningStack, account: dict[str, Any]) -> None:
    http, headers = account["http"], account["headers"]
    titles = ["Pick me one", "Pick me two", "Keep me"]
    for title in titles:
        assert (
            http.post(f"{stack.api}/recordings", json={"title": title}, headers=headers, timeout=30).status_code == 201
        )
    signed_in(page, stack, account)
    page.goto(f"{stack.site}/index.html")
    expect(page.locator("#recordings > article")).to_have_count(3, timeout=30_000)
    for title in titles[:2]:
        page.locator("#recordings > article", has_text=title).locator(".pick").check()
    expect(page.locator("#delete-selected")).to_have_text("Delete 2 selected")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete-selected")
    expect(page.locator("#selection-status")).to_have_text("Deleted 2 recordings.")
    page.reload()
    expect(page.locator("#recordings > article")).to_have_count(1, timeout=30_000)
    expect(page.locator("#recordings > article")).to_contain_text("Keep me")


def test_an_invite_to_an_address_without_an_account_gives_it_one_with_an_emailed_password(
    page: Page, browser: Browser, stack: RunningStack, account: dict[str, Any]
) -> None:
    signed_in(page, stack, account)
    page.goto(f"{stack.site}/members.html")
    page.fill("#workspace-new-name", "Support team")
    page.click("#create-workspace button")
    expect(page.locator("#workspace-name")).to_have_text("Members of Support team")
    newcomer = f"new-{uuid.uuid4().hex[:10]}@example.com"
    page.fill("#invite-email", newcomer)
    page.click("#invite button")
    expect(page.locator("#invite-link-value")).to_contain_text("invite=rri_")
    link = page.locator("#invite-link-value").inner_text()
    [temporary] = re.findall(
        rf"to {re.escape(newcomer)}: your temporary password is (\S+)",
        (stack.log.parent / "data" / "mail.log").read_text(),
    )

    theirs = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        them = theirs.new_page()
        them.goto(link)
        expect(them.locator("#invite-notice")).to_contain_text("temporary password")
        them.fill("#email", newcomer)
        them.fill("#password", temporary)
        them.click("#sign-in")
        expect(them.locator("#new-password-form")).to_be_visible()
        them.fill("#new-password", "Their-Own-Secret-42")
        them.click("#new-password-submit")
        expect(them.locator("#invite-notice")).to_have_text("You joined Support team.")
        expect(them.locator("#workspace option:checked")).to_have_text("Support team")
    finally:
        theirs.close()
    page.reload()
    expect(page.locator("#members li", has_text=newcomer)).to_have_count(1)


def test_an_admin_shortens_the_workspaces_retention_within_the_stacks_and_every_member_sees_it(
    page: Page, stack: RunningStack, account: dict[str, Any]
) -> None:
    signed_in(page, stack, account)
    page.goto(f"{stack.site}/members.html")
    expect(page.locator("#retention-note")).to_have_text(
        "Recordings of this workspace are kept as long as the stack keeps them: 30 days."
    )
    page.fill("#retention-days", "31")
    page.click("#retention button[type=submit]")
    # The browser's own check (max) or the API's: either way nothing is saved.
    expect(page.locator("#retention-note")).to_contain_text("30 days.")
    page.fill("#retention-days", "7")
    # Shortening deletes recordings for good: the page asks first, and a "no" changes nothing.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("#retention button[type=submit]")
    expect(page.locator("#retention-note")).to_contain_text("30 days.")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#retention button[type=submit]")
    expect(page.locator("#retention-note")).to_have_text(
        "Recordings of this workspace are deleted 7 days after they were made (the stack keeps them at most 30 days)."
    )
    page.reload()
    expect(page.locator("#retention-days")).to_have_value("7")
    personal = account["http"].get(f"{stack.api}/workspaces", headers=account["headers"], timeout=30).json()
    workspace = personal["workspaces"][0]["id"]
    described = account["http"].get(f"{stack.api}/workspaces/{workspace}", headers=account["headers"], timeout=30)
    assert described.json()["retentionDays"] == 7
    page.click("#retention-reset")
    expect(page.locator("#retention-note")).to_contain_text("as long as the stack keeps them: 30 days.")


def test_a_domain_typed_before_the_workspace_loaded_is_the_one_saved(
    page: Page, stack: RunningStack, account: dict[str, Any]
) -> None:
    team_workspace(page, stack, account, "Late answers")
    # The settings the domain form reads (the page's second read of the workspace; the
    # first is the retention's, awaited before the forms open) answer late: the admin
    # has typed a domain by then.
    held: list[Route] = []
    reads: list[Route] = []
    settings = re.compile(r"/workspaces/[^/?]+$")

    def hold_the_second_read(route: Route) -> None:
        if route.request.method != "GET":
            route.continue_()
            return
        reads.append(route)
        if len(reads) == 2:
            held.append(route)
        else:
            route.continue_()

    # Counted from a fresh page: a read the page before left in flight would count as the first.
    page.goto("about:blank")
    page.route(lambda url: bool(settings.search(urllib.parse.urlsplit(url).path)), hold_the_second_read)
    page.goto(f"{stack.site}/members.html")
    expect(page.locator("#domain button")).to_be_enabled()
    page.fill("#allowed-domain", "example.com")
    for _ in range(50):
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "the page asked for the workspace's settings"
    for route in held:
        route.continue_()
    page.wait_for_timeout(500)  # the late answer has arrived
    page.click("#domain button")
    expect(page.locator("#members-status")).to_have_text("Invites go to addresses of example.com only.")
