"""Accounts in process: closed sign-up, invitations, password reset, and the limit on the public /auth routes.

moto's Cognito runs with the local stack's strictness (``local.cognito_rules``): an
admin-only pool refuses SignUp as Cognito does, reset codes are emailed to an outbox
file and checked exactly.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from local import cognito_rules
from tests.support.accounts import POOL_PASSWORD as PASSWORD
from tests.support.accounts import mailed_code, make_user
from tests.support.http import AuthedHttp
from tests.support.in_process import clear_caches

NEW_PASSWORD = "Another-Secret-77"


def post(http: AuthedHttp, path: str, body: dict[str, Any]) -> Any:
    return http.post(path, body=json.dumps(body), headers={"Content-Type": "application/json"})


def reset_code(outbox: Path, email: str) -> str:
    """The last reset code mailed to ``email``."""
    return mailed_code(outbox, email, "password reset code")


def signs_in(http: AuthedHttp, email: str, password: str) -> bool:
    answer = post(http, "/auth/signin", {"email": email, "password": password})
    assert answer.status_code in (200, 401), answer.json_body
    return answer.status_code == 200 and "accessToken" in answer.json_body


def test_sign_up_is_refused_when_only_an_administrator_creates_accounts(
    aws: Any, anonymous: AuthedHttp, outbox: Path
) -> None:
    cognito = aws.client("cognito-idp")
    pool = os.environ["RRWEB_USER_POOL_ID"]
    # The local stack's pool is open for the demo; a deployed stack's is not (selfSignUp).
    assert post(anonymous, "/auth/signup", {"email": "open@example.com", "password": PASSWORD}).status_code == 201
    cognito.update_user_pool(UserPoolId=pool, AdminCreateUserConfig={"AllowAdminCreateUserOnly": True})
    refused = post(anonymous, "/auth/signup", {"email": "stranger@example.com", "password": PASSWORD})
    assert refused.status_code == 403
    assert refused.json_body["error"]["code"] == "signup_disabled"
    assert "administrator must invite you" in refused.json_body["error"]["message"]
    users = [user["Attributes"] for user in cognito.list_users(UserPoolId=pool)["Users"]]
    assert not any({"Name": "email", "Value": "stranger@example.com"} in attributes for attributes in users)


def test_forgotten_password_is_reset_with_the_emailed_code(aws: Any, anonymous: AuthedHttp, outbox: Path) -> None:
    user = make_user(aws, "forgetful@example.com")
    asked = post(anonymous, "/auth/forgot", {"email": "Forgetful@Example.com"})
    assert asked.status_code == 202
    code = reset_code(outbox, user.email)
    # The code travels by mail only, never in the API's answer.
    assert code not in json.dumps(asked.json_body)
    reset = post(anonymous, "/auth/reset", {"email": user.email, "code": code, "password": NEW_PASSWORD})
    assert reset.status_code == 204, reset.json_body
    assert signs_in(anonymous, user.email, NEW_PASSWORD)
    assert not signs_in(anonymous, user.email, PASSWORD)
    # A code works once.
    again = post(anonymous, "/auth/reset", {"email": user.email, "code": code, "password": "Third-Password-99"})
    assert again.status_code == 400
    assert again.json_body["error"]["code"] == "invalid_code"


def test_a_wrong_code_or_a_weak_password_changes_nothing(aws: Any, anonymous: AuthedHttp, outbox: Path) -> None:
    user = make_user(aws, "careful@example.com")
    assert post(anonymous, "/auth/forgot", {"email": user.email}).status_code == 202
    code = reset_code(outbox, user.email)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    refused = post(anonymous, "/auth/reset", {"email": user.email, "code": wrong, "password": NEW_PASSWORD})
    assert refused.status_code == 400
    assert refused.json_body["error"] == {"code": "invalid_code", "message": "the code is wrong or expired"}
    weak = post(anonymous, "/auth/reset", {"email": user.email, "code": code, "password": "weak"})
    assert weak.status_code == 400
    assert weak.json_body["error"]["code"] == "invalid_password"
    assert signs_in(anonymous, user.email, PASSWORD)
    assert not signs_in(anonymous, user.email, NEW_PASSWORD)
    # Neither spent the code.
    assert (
        post(anonymous, "/auth/reset", {"email": user.email, "code": code, "password": NEW_PASSWORD}).status_code == 204
    )


def test_a_sign_up_is_confirmed_by_the_emailed_code_alone(aws: Any, anonymous: AuthedHttp, outbox: Path) -> None:
    """ConfirmSignUp is public: the code is checked, works once, and a few wrong ones void it."""
    signed_up = post(anonymous, "/auth/signup", {"email": "Joiner@Example.com", "password": PASSWORD})
    assert signed_up.status_code == 201
    code = mailed_code(outbox, "joiner@example.com")
    assert code not in json.dumps(signed_up.json_body)
    wrong = [f"{(int(code) + step) % 1_000_000:06d}" for step in range(1, cognito_rules.MAX_WRONG_CODES + 1)]
    answers = [
        post(anonymous, "/auth/confirm", {"email": "joiner@example.com", "code": guess}).status_code for guess in wrong
    ]
    assert answers == [400] * (cognito_rules.MAX_WRONG_CODES - 1) + [429]
    # The guesses spent the right code too, and confirmed nothing.
    assert post(anonymous, "/auth/confirm", {"email": "joiner@example.com", "code": code}).status_code == 429
    assert post(anonymous, "/auth/signin", {"email": "joiner@example.com", "password": PASSWORD}).status_code == 403


def test_a_new_code_confirms_an_account_whose_code_was_spent_or_lost(
    aws: Any, anonymous: AuthedHttp, outbox: Path
) -> None:
    email = "stuck@example.com"
    assert post(anonymous, "/auth/signup", {"email": email, "password": PASSWORD}).status_code == 201
    first = mailed_code(outbox, email)
    for step in range(1, cognito_rules.MAX_WRONG_CODES + 1):  # guesses void it
        post(anonymous, "/auth/confirm", {"email": email, "code": f"{(int(first) + step) % 1_000_000:06d}"})
    asked = post(anonymous, "/auth/resend", {"email": "Stuck@Example.com"})
    assert asked.status_code == 202
    fresh = mailed_code(outbox, email)
    assert fresh not in json.dumps(asked.json_body)
    assert len(re.findall(rf"to {email}: your confirmation code is", outbox.read_text())) == 2
    assert post(anonymous, "/auth/confirm", {"email": email, "code": fresh}).status_code == 204
    assert signs_in(anonymous, email, PASSWORD)


def test_a_new_code_is_asked_for_with_the_same_answer_whoever_the_address_is(
    aws: Any, anonymous: AuthedHttp, outbox: Path
) -> None:
    make_user(aws, "confirmed@example.com")
    assert post(anonymous, "/auth/signup", {"email": "waiting@example.com", "password": PASSWORD}).status_code == 201
    mailed = outbox.read_text()
    answers = [
        post(anonymous, "/auth/resend", {"email": email})
        for email in ("confirmed@example.com", "nobody@example.com", "waiting@example.com")
    ]
    assert {(answer.status_code, json.dumps(answer.json_body)) for answer in answers} == {
        (202, json.dumps({"message": "if this address has an account to confirm, a new code is on its way"}))
    }
    # Only the account still to confirm was sent one.
    assert outbox.read_text()[len(mailed) :].count("\n") == 1
    assert "to waiting@example.com: your confirmation code is" in outbox.read_text()[len(mailed) :]
    bad = post(anonymous, "/auth/resend", {"email": "not an address"})
    assert (bad.status_code, bad.json_body["error"]["code"]) == (400, "invalid_email")


def test_a_sign_up_code_expires_after_a_day(
    aws: Any, anonymous: AuthedHttp, outbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert post(anonymous, "/auth/signup", {"email": "late@example.com", "password": PASSWORD}).status_code == 201
    code = mailed_code(outbox, "late@example.com")
    issued = cognito_rules.now()
    monkeypatch.setattr(cognito_rules, "now", lambda: issued + cognito_rules.SIGN_UP_CODE_SECONDS + 1)
    late = post(anonymous, "/auth/confirm", {"email": "late@example.com", "code": code})
    assert (late.status_code, late.json_body["error"]["code"]) == (400, "invalid_code")
    monkeypatch.setattr(cognito_rules, "now", lambda: issued + cognito_rules.SIGN_UP_CODE_SECONDS - 60)
    assert post(anonymous, "/auth/confirm", {"email": "late@example.com", "code": code}).status_code == 204
    assert signs_in(anonymous, "late@example.com", PASSWORD)


def test_a_reset_code_cannot_be_guessed(aws: Any, anonymous: AuthedHttp, outbox: Path) -> None:
    """Cognito voids a code after a few wrong ones; ConfirmForgotPassword is public, so the pool itself must."""
    user = make_user(aws, "guessed@example.com")
    assert post(anonymous, "/auth/forgot", {"email": user.email}).status_code == 202
    code = reset_code(outbox, user.email)
    wrong = [f"{(int(code) + step) % 1_000_000:06d}" for step in range(1, cognito_rules.MAX_WRONG_CODES + 1)]
    answers = [
        post(anonymous, "/auth/reset", {"email": user.email, "code": guess, "password": NEW_PASSWORD}).status_code
        for guess in wrong
    ]
    assert answers == [400] * (cognito_rules.MAX_WRONG_CODES - 1) + [429]
    # The right code no longer works: the attacker's guesses spent it, and a new one must be asked for.
    late = post(anonymous, "/auth/reset", {"email": user.email, "code": code, "password": NEW_PASSWORD})
    assert late.status_code == 429
    assert signs_in(anonymous, user.email, PASSWORD)
    assert post(anonymous, "/auth/forgot", {"email": user.email}).status_code == 202
    fresh = reset_code(outbox, user.email)
    assert (
        post(anonymous, "/auth/reset", {"email": user.email, "code": fresh, "password": NEW_PASSWORD}).status_code
        == 204
    )


def test_the_answers_never_tell_whether_an_address_has_an_account(
    aws: Any, anonymous: AuthedHttp, outbox: Path
) -> None:
    make_user(aws, "someone@example.com")
    known = post(anonymous, "/auth/forgot", {"email": "someone@example.com"})
    unknown = post(anonymous, "/auth/forgot", {"email": "nobody@example.com"})
    assert (known.status_code, known.json_body) == (unknown.status_code, unknown.json_body)
    assert known.status_code == 202
    assert "nobody@example.com" not in outbox.read_text()
    guessed = post(
        anonymous, "/auth/reset", {"email": "nobody@example.com", "code": "123456", "password": NEW_PASSWORD}
    )
    assert guessed.status_code == 400
    assert guessed.json_body["error"]["code"] == "invalid_code"
    assert post(anonymous, "/auth/forgot", {"email": "not an address"}).status_code == 400
    # Confirming an address with no account is a wrong code too, not "no such user".
    confirmed = post(anonymous, "/auth/confirm", {"email": "nobody@example.com", "code": "123456"})
    assert confirmed.status_code == 400
    assert confirmed.json_body["error"]["code"] == "invalid_code"


def test_an_invited_user_chooses_a_password_at_the_first_sign_in(aws: Any, anonymous: AuthedHttp, outbox: Path) -> None:
    cognito = aws.client("cognito-idp")
    pool = os.environ["RRWEB_USER_POOL_ID"]
    cognito.update_user_pool(UserPoolId=pool, AdminCreateUserConfig={"AllowAdminCreateUserOnly": True})
    email, temporary = "invited@example.com", "Temporary-Pass-123"
    cognito.admin_create_user(
        UserPoolId=pool,
        Username=email,
        TemporaryPassword=temporary,
        UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
        MessageAction="SUPPRESS",
    )
    first = post(anonymous, "/auth/signin", {"email": email, "password": temporary})
    assert first.status_code == 200
    assert first.json_body["challenge"] == "NEW_PASSWORD_REQUIRED"
    assert "accessToken" not in first.json_body
    session = first.json_body["session"]
    weak = post(anonymous, "/auth/new-password", {"session": session, "password": "weak"})
    assert weak.json_body["error"]["code"] == "invalid_password"
    forged = post(anonymous, "/auth/new-password", {"session": "not-a-session", "password": NEW_PASSWORD})
    assert (forged.status_code, forged.json_body["error"]["code"]) == (400, "invalid_session")
    tokens = post(anonymous, "/auth/new-password", {"session": session, "password": NEW_PASSWORD})
    assert tokens.status_code == 200, tokens.json_body
    assert {"accessToken", "refreshToken"} <= set(tokens.json_body)
    headers = {"Authorization": f"Bearer {tokens.json_body['accessToken']}"}
    assert anonymous.get("/recordings", headers=headers).status_code == 200
    # From now on the password is theirs: a plain sign-in, and the temporary one is void.
    assert signs_in(anonymous, email, NEW_PASSWORD)
    assert not signs_in(anonymous, email, temporary)


def test_a_sign_in_session_cannot_set_another_users_password(aws: Any, anonymous: AuthedHttp, outbox: Path) -> None:
    import base64

    cognito = aws.client("cognito-idp")
    pool = os.environ["RRWEB_USER_POOL_ID"]
    victim = make_user(aws, "victim@example.com")
    victim_name = cognito.admin_get_user(UserPoolId=pool, Username=victim.email)["Username"]
    cognito.admin_create_user(
        UserPoolId=pool,
        Username="mallory@example.com",
        TemporaryPassword="Temporary-Pass-123",
        MessageAction="SUPPRESS",
    )
    session = post(anonymous, "/auth/signin", {"email": "mallory@example.com", "password": "Temporary-Pass-123"})
    _, cognito_session = json.loads(base64.urlsafe_b64decode(session.json_body["session"]))
    forged = base64.urlsafe_b64encode(json.dumps([victim_name, cognito_session]).encode()).decode()
    refused = post(anonymous, "/auth/new-password", {"session": forged, "password": NEW_PASSWORD})
    assert refused.status_code == 401
    assert signs_in(anonymous, victim.email, PASSWORD)


def test_the_public_auth_routes_are_limited_per_client_address(
    aws: Any, anonymous: AuthedHttp, outbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RRWEB_LIMIT_AUTH_REQUESTS", "4")
    clear_caches()
    user = make_user(aws, "target@example.com")
    for guess in range(3):
        assert not signs_in(anonymous, user.email, f"Guess-number-{guess}0")
    assert post(anonymous, "/auth/forgot", {"email": user.email}).status_code == 202
    mailed = outbox.read_text()
    # The address has spent its four: every /auth route refuses it, before Cognito is asked.
    for path, body in (
        ("/auth/signin", {"email": user.email, "password": PASSWORD}),
        ("/auth/forgot", {"email": user.email}),
        ("/auth/reset", {"email": user.email, "code": "000000", "password": NEW_PASSWORD}),
        ("/auth/signup", {"email": "more@example.com", "password": PASSWORD}),
        ("/auth/confirm", {"email": user.email, "code": "000000"}),
        ("/auth/resend", {"email": user.email}),
        ("/auth/refresh", {"refreshToken": user.refresh_token}),
    ):
        refused = post(anonymous, path, body)
        assert refused.status_code == 429, path
        assert refused.json_body["error"]["code"] == "rate_limited"
        assert int(refused.headers["Retry-After"]) >= 1
    assert outbox.read_text() == mailed
    # Liveness is not an account route.
    assert anonymous.get("/health").status_code == 200


# Cognito operations that email someone (with the pool's built-in sender, a few dozen a
# day for the whole account: docs/deploy.md, "Email").
EMAILING = {"SignUp", "ResendConfirmationCode", "ForgotPassword", "AdminResetUserPassword", "UpdateUserAttributes"}


class _Requests:
    """``requests.Session.post`` onto the in-process API, as the smoke test calls it."""

    def __init__(self, http: AuthedHttp) -> None:
        self.http = http

    def post(self, url: str, *, json: dict[str, Any], timeout: float) -> Any:
        del timeout
        answer = post(self.http, url.removeprefix("https://api.example"), json)

        class Response:
            status_code = answer.status_code
            text = str(answer.json_body)

            @staticmethod
            def json() -> Any:
                return answer.json_body

        return Response()


def test_the_smoke_test_on_a_deployed_stack_emails_no_one(
    aws: Any, anonymous: AuthedHttp, outbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import botocore.client

    from tests.support.accounts import remove_user, sign_up_and_in

    pool = os.environ["RRWEB_USER_POOL_ID"]
    aws.client("cognito-idp").update_user_pool(
        UserPoolId=pool, AdminCreateUserConfig={"AllowAdminCreateUserOnly": True}
    )
    calls: list[tuple[str, dict[str, Any]]] = []
    original = botocore.client.BaseClient._make_api_call

    def recorded(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if self.meta.service_model.service_name == "cognito-idp":
            calls.append((operation, params))
        return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recorded)
    monkeypatch.setenv("RRWEB_SMOKE_USER_POOL_ID", pool)

    email, headers = sign_up_and_in("https://api.example", _Requests(anonymous))  # type: ignore[arg-type]
    assert anonymous.get("/recordings", headers=headers).status_code == 200
    remove_user(email)

    operations = [operation for operation, _ in calls]
    assert "AdminCreateUser" in operations
    assert not EMAILING & set(operations), operations
    invites = [params for operation, params in calls if operation == "AdminCreateUser"]
    assert all(params.get("MessageAction") == "SUPPRESS" for params in invites), "an invitation email"
    assert not outbox.exists() or outbox.read_text() == "", "a reset code sent"
