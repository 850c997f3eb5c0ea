"""Sign-up, confirmation, sign-in, invitations, password reset and token refresh against the stack's Cognito pool.

The site calls these instead of talking to Cognito itself, so the local stack (moto's
Cognito) and AWS behave the same. Cognito's own errors become the API's error shape.

Whether anyone may sign up is the pool's own setting (``AllowAdminCreateUserOnly``,
from the stack's ``selfSignUp``): the API asks the pool and turns its refusal into 403
``signup_disabled``, so the two can never disagree. An invited user's first sign-in
answers a ``NEW_PASSWORD_REQUIRED`` challenge instead of tokens; ``set_new_password``
completes it. These routes are public, so each request is first counted against its
client address (``admit``): a flood from one address is refused before Cognito is asked.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from .errors import ApiError, BadRequestError, ConflictError, ForbiddenError, TooManyRequestsError, UnauthorizedError
from .limits import VisitorLimits
from .settings import PASSWORD_POLICY

logger = logging.getLogger("rrweb")

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


def _password(body: dict[str, Any], name: str = "password") -> str:
    """A new password, checked against the pool's rules before Cognito is asked (one request fewer)."""
    password = _text(body, name)
    if not PASSWORD_POLICY.allows(password):
        raise _weak_password()
    return password


def _weak_password() -> ApiError:
    return BadRequestError(f"the password needs {PASSWORD_POLICY.rules()}", code="invalid_password")


def translate_cognito_error(exc: ClientError) -> ApiError:
    """The API's error for a refusal from Cognito; anything unexpected is raised again as it is."""
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
        return BadRequestError("the code is wrong or expired", code="invalid_code")
    if code == "UserNotConfirmedException":
        return ForbiddenError("confirm the account with the emailed code first", code="not_confirmed")
    if code in ("NotAuthorizedException", "UserNotFoundException"):
        return UnauthorizedError("wrong email or password, or an expired session")
    if code in ("TooManyRequestsException", "LimitExceededException", "TooManyFailedAttemptsException"):
        return TooManyRequestsError("too many attempts; wait a little", retry_after=30)
    raise exc


# Cognito's answers to ForgotPassword and ResendConfirmationCode that depend on the
# account (none, unconfirmed, already confirmed, invited and not signed in yet, no
# verified address, too many codes asked for it): all answered like success, so these
# routes never tell whether an address has an account.
_FORGOT_SILENT = frozenset(
    {
        "UserNotFoundException",
        "NotAuthorizedException",
        "InvalidParameterException",
        "LimitExceededException",
        "CodeDeliveryFailureException",
        "UserNotConfirmedException",
    }
)
NEW_PASSWORD_REQUIRED = "NEW_PASSWORD_REQUIRED"  # noqa: S105 (a challenge name)
# An invited user's sign-in session (Cognito's own, at most 2,048 characters) and the
# pool's name for the user, which the challenge's answer must carry.
_MAX_SESSION = 8192


class Accounts:
    """The user pool's public (client-side) operations for one app client."""

    def __init__(self, *, cognito: Any, user_pool_id: str, client_id: str, requests_per_client: int) -> None:
        self._cognito = cognito
        self._client_id = client_id
        self._user_pool_id = user_pool_id
        # The per-visitor token buckets of ``limits``, used for client addresses alone.
        self._clients = VisitorLimits(recording_per_minute=requests_per_client, client_per_minute=requests_per_client)

    def admit(self, client: str | None) -> None:
        """Count one request to the public account routes from a client address, or raise 429 with Retry-After."""
        # No recording: the account routes count client addresses alone.
        self._clients.charge(recording=None, client=client or "unknown")

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = getattr(self._cognito, operation)(ClientId=self._client_id, **kwargs)
            return answer
        except ClientError as exc:
            raise translate_cognito_error(exc) from None

    def sign_up(self, body: dict[str, Any]) -> dict[str, Any]:
        """Register; Cognito emails a confirmation code. 403 ``signup_disabled`` when only an admin creates accounts."""
        email = _email(body)
        password = _password(body)
        try:
            result = self._cognito.sign_up(
                ClientId=self._client_id,
                Username=email,
                Password=password,
                UserAttributes=[{"Name": "email", "Value": email}],
            )
        except ClientError as exc:
            # With no client secret, the only reason SignUp is not authorized is the pool's
            # AllowAdminCreateUserOnly ("SignUp is not permitted for this user pool").
            if exc.response.get("Error", {}).get("Code") == "NotAuthorizedException":
                raise ForbiddenError(
                    "this stack does not take sign-ups: an administrator must invite you (you then get an "
                    "email with a temporary password to sign in with)",
                    code="signup_disabled",
                ) from None
            raise translate_cognito_error(exc) from None
        return {"email": email, "confirmed": bool(result.get("UserConfirmed"))}

    def confirm(self, body: dict[str, Any]) -> None:
        """Confirm an account with the emailed code."""
        try:
            self._cognito.confirm_sign_up(
                ClientId=self._client_id, Username=_email(body), ConfirmationCode=_text(body, "code", 16)
            )
        except ClientError as exc:
            # No account is a wrong code, as Cognito answers with user-existence errors
            # prevented: the answer must not tell which addresses exist.
            if exc.response.get("Error", {}).get("Code") == "UserNotFoundException":
                raise BadRequestError("the code is wrong or expired", code="invalid_code") from None
            raise translate_cognito_error(exc) from None

    def resend_code(self, body: dict[str, Any]) -> None:
        """Have Cognito email a new confirmation code; the same answer whatever the address's account."""
        try:
            self._cognito.resend_confirmation_code(ClientId=self._client_id, Username=_email(body))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in _FORGOT_SILENT:
                raise translate_cognito_error(exc) from None
            # Never the address: logs are not a directory of accounts.
            logger.info("confirmation code not sent: %s", code)

    def sign_in(self, body: dict[str, Any]) -> dict[str, Any]:
        """Tokens for email and password, or, for an invited user's temporary password, the new-password challenge.

        The challenge answer is ``{"challenge": "NEW_PASSWORD_REQUIRED", "session": ...}``:
        ``set_new_password`` with that session and a password of the user's own signs them in.
        """
        result = self._call(
            "initiate_auth",
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": _email(body), "PASSWORD": _text(body, "password")},
        )
        if "AuthenticationResult" in result:
            return _tokens(result["AuthenticationResult"])
        if result.get("ChallengeName") == NEW_PASSWORD_REQUIRED:
            parameters = result.get("ChallengeParameters") or {}
            # The answer must name the pool's user (its sub), not the email it signed in with.
            username = parameters.get("USER_ID_FOR_SRP") or parameters.get("USERNAME")
            return {"challenge": NEW_PASSWORD_REQUIRED, "session": _session(username, result["Session"])}
        # The pool has no MFA or custom challenges; a step the site cannot take is refused plainly.
        raise UnauthorizedError("this account needs a sign-in step the site does not offer")

    def set_new_password(self, body: dict[str, Any]) -> dict[str, Any]:
        """Answer the new-password challenge of an invited user's first sign-in: tokens."""
        username, session = _unpack_session(_text(body, "session", _MAX_SESSION))
        password = _password(body)
        result = self._call(
            "respond_to_auth_challenge",
            ChallengeName=NEW_PASSWORD_REQUIRED,
            Session=session,
            ChallengeResponses={"USERNAME": username, "NEW_PASSWORD": password},
        )
        if "AuthenticationResult" not in result:
            raise UnauthorizedError("this account needs a sign-in step the site does not offer")
        return _tokens(result["AuthenticationResult"])

    def forgot_password(self, body: dict[str, Any]) -> None:
        """Have Cognito email a reset code; the same answer whether or not the address has an account."""
        email = _email(body)
        try:
            self._cognito.forgot_password(ClientId=self._client_id, Username=email)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in _FORGOT_SILENT:
                raise translate_cognito_error(exc) from None
            # Never the address: logs are not a directory of accounts.
            logger.info("password reset code not sent: %s", code)

    def reset_password(self, body: dict[str, Any]) -> None:
        """Set a new password with the emailed reset code (the pool's password rules apply)."""
        email = _email(body)
        code = _text(body, "code", 16)
        password = _password(body)
        try:
            self._cognito.confirm_forgot_password(
                ClientId=self._client_id, Username=email, ConfirmationCode=code, Password=password
            )
        except ClientError as exc:
            # No account is a wrong code: the answer must not tell which addresses exist.
            if exc.response.get("Error", {}).get("Code") == "UserNotFoundException":
                raise BadRequestError("the code is wrong or expired", code="invalid_code") from None
            raise translate_cognito_error(exc) from None

    def refresh(self, body: dict[str, Any]) -> dict[str, Any]:
        """New access and id tokens for a refresh token."""
        result = self._call(
            "initiate_auth",
            AuthFlow="REFRESH_TOKEN_AUTH",
            AuthParameters={"REFRESH_TOKEN": _text(body, "refreshToken", 8192)},
        )
        return _tokens(result["AuthenticationResult"])

    def provide_account(self, email: str, admit: Callable[[], None]) -> None:
        """Make sure ``email`` can sign in: an invite is how a teammate joins a pool that takes no sign-ups.

        An account of that address: nothing (it signs in as it always does). None:
        ``admit()`` counts it (raising when the stack's daily number of such accounts is
        reached), then ``AdminCreateUser`` makes one, the email marked verified (the
        invite went to it), and Cognito emails a temporary password, valid as long as
        an invite (7 days); the first sign-in asks for a password of their own. The
        caller learns none of this, so an invite tells no admin who has an account.
        Nothing is ever sent again: a second invite to an address that has not signed in
        yet changes nothing, so no one can void another's temporary password by inviting
        the same address.
        """
        try:
            self._cognito.admin_get_user(UserPoolId=self._user_pool_id, Username=email)
            return
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "UserNotFoundException":
                raise
        admit()
        try:
            self._cognito.admin_create_user(
                UserPoolId=self._user_pool_id,
                Username=email,
                UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
                DesiredDeliveryMediums=["EMAIL"],
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "UsernameExistsException":
                return  # created meanwhile (another invite to the same address)
            if code == "InvalidParameterException":
                # Cognito's own address rules are stricter than a syntax check.
                raise BadRequestError("this email address is not accepted", code="invalid_email") from None
            raise

    def email(self, access_token: str) -> str:
        """The email a signed-in user signs in with (Cognito's GetUser, authorized by their own token).

        An access token does not carry it: the pool's usernames are generated, the email
        an alias.
        """
        try:
            attributes = self._cognito.get_user(AccessToken=access_token)["UserAttributes"]
        except ClientError as exc:
            raise translate_cognito_error(exc) from None
        return next((str(entry["Value"]) for entry in attributes if entry["Name"] == "email"), "")


def _session(username: Any, session: str) -> str:
    """The challenge's state for the client to send back: the pool's user name and Cognito's session, opaque."""
    if not isinstance(username, str) or not username:
        raise UnauthorizedError("the sign-in service did not name the account to set a password for")
    return base64.urlsafe_b64encode(json.dumps([username, session]).encode()).decode()


def _unpack_session(value: str) -> tuple[str, str]:
    try:
        username, session = json.loads(base64.urlsafe_b64decode(value.encode()))
    except (ValueError, TypeError, binascii.Error):
        raise BadRequestError("session is not one this API issued", code="invalid_session") from None
    if not isinstance(username, str) or not isinstance(session, str) or not username or not session:
        raise BadRequestError("session is not one this API issued", code="invalid_session")
    return username, session


def _tokens(result: dict[str, Any]) -> dict[str, Any]:
    tokens = {"accessToken": result["AccessToken"], "idToken": result["IdToken"], "expiresIn": result["ExpiresIn"]}
    if "RefreshToken" in result:
        tokens["refreshToken"] = result["RefreshToken"]
    return tokens
