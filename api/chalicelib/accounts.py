"""Sign-up, confirmation, sign-in and token refresh against the stack's Cognito user pool.

The site calls these instead of talking to Cognito itself, so the local stack (moto's
Cognito) and AWS behave the same. Cognito's own errors become the API's error shape.
"""

from __future__ import annotations

import re
from typing import Any

from botocore.exceptions import ClientError

from .errors import ApiError, BadRequestError, ConflictError, ForbiddenError, TooManyRequestsError, UnauthorizedError
from .settings import PASSWORD_POLICY

_EMAIL = re.compile(r"\A[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,63}\Z")


def _email(body: dict[str, Any]) -> str:
    email = body.get("email")
    if not isinstance(email, str) or not _EMAIL.match(email):
        raise BadRequestError("email must be an email address", code="invalid_email")
    return email.lower()


def _text(body: dict[str, Any], name: str, max_length: int = 256) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise BadRequestError(f"{name} is required", code=f"invalid_{name.lower()}")
    return value


def _weak_password() -> ApiError:
    return BadRequestError(f"the password needs {PASSWORD_POLICY.rules()}", code="invalid_password")


def _translate(exc: ClientError) -> ApiError:
    code = exc.response.get("Error", {}).get("Code", "")
    message = exc.response.get("Error", {}).get("Message", "")
    if code == "UsernameExistsException":
        return ConflictError("an account with this email exists", code="account_exists")
    if code == "InvalidParameterException" and "username" in message.lower():
        # Cognito's own email rules are stricter than a syntax check.
        return BadRequestError("this email address is not accepted", code="invalid_email")
    if code in ("InvalidPasswordException", "InvalidParameterException"):
        # Cognito's own text names its API's parameters; the rules are what a person needs.
        return _weak_password()
    if code in ("CodeMismatchException", "ExpiredCodeException"):
        return BadRequestError("the confirmation code is wrong or expired", code="invalid_code")
    if code == "UserNotConfirmedException":
        return ForbiddenError("confirm the account with the emailed code first", code="not_confirmed")
    if code in ("NotAuthorizedException", "UserNotFoundException"):
        return UnauthorizedError("wrong email or password, or an expired session")
    if code in ("TooManyRequestsException", "LimitExceededException", "TooManyFailedAttemptsException"):
        return TooManyRequestsError("too many attempts; wait a little", retry_after=30)
    raise exc


class Accounts:
    """The user pool's public (client-side) operations for one app client."""

    def __init__(self, *, cognito: Any, client_id: str) -> None:
        self._cognito = cognito
        self._client_id = client_id

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return getattr(self._cognito, operation)(ClientId=self._client_id, **kwargs)
        except ClientError as exc:
            raise _translate(exc) from None

    def sign_up(self, body: dict[str, Any]) -> dict[str, Any]:
        """Register; Cognito emails a confirmation code."""
        email = _email(body)
        password = _text(body, "password")
        if not PASSWORD_POLICY.allows(password):
            raise _weak_password()  # before asking Cognito: the same rules, one request fewer
        result = self._call(
            "sign_up",
            Username=email,
            Password=password,
            UserAttributes=[{"Name": "email", "Value": email}],
        )
        return {"email": email, "confirmed": bool(result.get("UserConfirmed"))}

    def confirm(self, body: dict[str, Any]) -> None:
        """Confirm an account with the emailed code."""
        self._call("confirm_sign_up", Username=_email(body), ConfirmationCode=_text(body, "code", 16))

    def sign_in(self, body: dict[str, Any]) -> dict[str, Any]:
        """Tokens for email and password."""
        result = self._call(
            "initiate_auth",
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": _email(body), "PASSWORD": _text(body, "password")},
        )
        return _tokens(result["AuthenticationResult"])

    def refresh(self, body: dict[str, Any]) -> dict[str, Any]:
        """New access and id tokens for a refresh token."""
        result = self._call(
            "initiate_auth",
            AuthFlow="REFRESH_TOKEN_AUTH",
            AuthParameters={"REFRESH_TOKEN": _text(body, "refreshToken", 8192)},
        )
        return _tokens(result["AuthenticationResult"])


def _tokens(result: dict[str, Any]) -> dict[str, Any]:
    tokens = {"accessToken": result["AccessToken"], "idToken": result["IdToken"], "expiresIn": result["ExpiresIn"]}
    if "RefreshToken" in result:
        tokens["refreshToken"] = result["RefreshToken"]
    return tokens
