"""Users to act as, signed in for real.

Over HTTP through the API's own /auth routes (local stack or a deployed stack), or made
directly in the in-process stack's pool (moto's Cognito).
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.support.local_stack import mailbox_of

PASSWORD = "Smoke-Test-Pass-42"
# The password of the users ``make_user`` creates in the in-process pool.
POOL_PASSWORD = "Correct-Horse-42"


@dataclass(frozen=True)
class User:
    """A signed-in user of the stack's pool (moto's Cognito, real signed tokens)."""

    email: str
    sub: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header this user sends."""
        return {"Authorization": f"Bearer {self.access_token}"}


def mailed_code(outbox: Path, email: str, what: str = "confirmation code") -> str:
    """The last code of this kind (``confirmation code``, ``password reset code``) "emailed" to ``email``."""
    text = outbox.read_text() if outbox.exists() else ""
    codes = re.findall(rf"to {re.escape(email)}: your {re.escape(what)} is (\d{{6}})\n", text)
    assert codes, f"no {what} for {email} in {outbox}"
    return codes[-1]


def make_user(session: Any, email: str) -> User:
    """Create, confirm and sign in a user through the app client."""
    cognito = session.client("cognito-idp")
    client_id = os.environ["RRWEB_USER_POOL_CLIENT_ID"]
    sub = cognito.sign_up(
        ClientId=client_id, Username=email, Password=POOL_PASSWORD, UserAttributes=[{"Name": "email", "Value": email}]
    )["UserSub"]
    cognito.admin_confirm_sign_up(UserPoolId=os.environ["RRWEB_USER_POOL_ID"], Username=email)
    tokens = cognito.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": email, "PASSWORD": POOL_PASSWORD},
    )["AuthenticationResult"]
    return User(email=email, sub=sub, access_token=tokens["AccessToken"], refresh_token=tokens["RefreshToken"])


def sign_up_and_in(api: str, http: requests.Session, *, email: str | None = None) -> tuple[str, dict[str, str]]:
    """Register a fresh user, confirm it, sign in; returns (email, Authorization header).

    On a deployed stack sign-up is closed unless the stack sets ``selfSignUp``, and the
    emailed codes are not readable, so the user is invited the way an administrator
    does it (Cognito's AdminCreateUser with a temporary password: ``RRWEB_SMOKE_USER_POOL_ID``
    and the deployer's AWS credentials) and chooses a password at the first sign-in,
    through the API's challenge. A local stack takes sign-ups, and "emails" the code that
    confirms one to its data folder's mail.log, read here.
    """
    email = email or f"smoke-{uuid.uuid4().hex[:12]}@example.com"
    pool = os.environ.get("RRWEB_SMOKE_USER_POOL_ID")
    if pool:
        import boto3

        temporary = f"Tmp-{uuid.uuid4().hex[:12]}-A1"
        boto3.client("cognito-idp").admin_create_user(
            UserPoolId=pool,
            Username=email,
            TemporaryPassword=temporary,
            UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
            MessageAction="SUPPRESS",
        )
        challenge = http.post(f"{api}/auth/signin", json={"email": email, "password": temporary}, timeout=30)
        assert challenge.status_code == 200, challenge.text
        assert challenge.json().get("challenge") == "NEW_PASSWORD_REQUIRED", challenge.text
        tokens = http.post(
            f"{api}/auth/new-password", json={"session": challenge.json()["session"], "password": PASSWORD}, timeout=30
        )
    else:
        signed_up = http.post(f"{api}/auth/signup", json={"email": email, "password": PASSWORD}, timeout=30)
        assert signed_up.status_code == 201, signed_up.text
        code = mailed_code(mailbox_of(api), email)
        confirmed = http.post(f"{api}/auth/confirm", json={"email": email, "code": code}, timeout=30)
        assert confirmed.status_code == 204, confirmed.text
        tokens = http.post(f"{api}/auth/signin", json={"email": email, "password": PASSWORD}, timeout=30)
    assert tokens.status_code == 200, tokens.text
    return email, {"Authorization": f"Bearer {tokens.json()['accessToken']}"}


def remove_user(email: str) -> None:
    """Delete a smoke-test user from a deployed stack's pool (nothing to do locally)."""
    pool = os.environ.get("RRWEB_SMOKE_USER_POOL_ID")
    if pool:
        import boto3

        boto3.client("cognito-idp").admin_delete_user(UserPoolId=pool, Username=email)
