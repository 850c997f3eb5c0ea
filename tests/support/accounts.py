"""Signing in over HTTP through the API's own /auth routes (local stack or a deployed stack)."""

from __future__ import annotations

import os
import uuid

import requests

PASSWORD = "Smoke-Test-Pass-42"


def sign_up_and_in(api: str, http: requests.Session, *, email: str | None = None) -> tuple[str, dict[str, str]]:
    """Register a fresh user, confirm it, sign in; returns (email, Authorization header).

    On a deployed stack the emailed code is not readable, so the account is confirmed
    with Cognito's admin API (``RRWEB_SMOKE_USER_POOL_ID`` and the deployer's AWS
    credentials); the local stack's Cognito (moto) accepts any code.
    """
    email = email or f"smoke-{uuid.uuid4().hex[:12]}@example.com"
    signed_up = http.post(f"{api}/auth/signup", json={"email": email, "password": PASSWORD}, timeout=30)
    assert signed_up.status_code == 201, signed_up.text
    pool = os.environ.get("RRWEB_SMOKE_USER_POOL_ID")
    if pool:
        import boto3

        boto3.client("cognito-idp").admin_confirm_sign_up(UserPoolId=pool, Username=email)
    else:
        confirmed = http.post(f"{api}/auth/confirm", json={"email": email, "code": "000000"}, timeout=30)
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
