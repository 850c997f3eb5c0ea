"""Verification of Cognito access tokens: signature (JWKS, cached), issuer, client, expiry, use.

The same code runs on AWS and on the local stack (whose moto Cognito signs real RS256
tokens and serves a JWKS); nothing here trusts API Gateway or ``chalice local`` to
have checked anything.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import jwt
import requests

from .errors import ServiceUnavailableError, UnauthorizedError

_JWKS_TTL_S = 3600
# An unknown key id triggers at most one refetch per minute (key rotation), so forged
# kids cannot make every request fetch the JWKS.
_REFETCH_MIN_INTERVAL_S = 60
_LEEWAY_S = 30


class TokenVerifier:
    """Verifies access tokens of one user pool and app client."""

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        jwks_url: str,
        http: Any = requests,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._issuer = issuer
        self._client_id = client_id
        self._jwks_url = jwks_url
        self._http = http
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        response = self._http.get(self._jwks_url, timeout=5)
        response.raise_for_status()
        keys = jwt.PyJWKSet.from_dict(response.json()).keys
        self._keys = {key.key_id: key for key in keys if key.key_id}
        self._fetched_at = self._clock()

    def _key(self, kid: str) -> jwt.PyJWK:
        with self._lock:
            age = self._clock() - self._fetched_at
            if age > _JWKS_TTL_S or (kid not in self._keys and age > _REFETCH_MIN_INTERVAL_S):
                try:
                    self._refresh()
                except (requests.RequestException, ValueError, jwt.PyJWTError):
                    if not self._keys:
                        raise ServiceUnavailableError(
                            "the sign-in service's keys are unreachable", retry_after=5
                        ) from None
                    # Keep verifying with the keys we have; try again in a minute.
                    self._fetched_at = self._clock() - _JWKS_TTL_S + _REFETCH_MIN_INTERVAL_S
            key = self._keys.get(kid)
        if key is None:
            raise UnauthorizedError("token is signed by an unknown key")
        return key

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or 401 if anything about it is wrong."""
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != "RS256" or not isinstance(header.get("kid"), str):
                raise UnauthorizedError("token must be RS256 with a key id")
            claims = jwt.decode(
                token,
                self._key(header["kid"]).key,
                algorithms=["RS256"],
                issuer=self._issuer,
                leeway=_LEEWAY_S,
                options={"require": ["exp", "iat", "iss", "sub", "token_use"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise UnauthorizedError("token has expired") from None
        except jwt.PyJWTError:
            raise UnauthorizedError("token is not valid") from None
        if claims.get("token_use") != "access":
            raise UnauthorizedError("an access token is required")
        if claims.get("client_id") != self._client_id:
            raise UnauthorizedError("token was issued to another client")
        return claims
