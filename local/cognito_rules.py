"""Where moto's Cognito is laxer than Cognito in ways the stack's accounts rely on, made strict.

moto (the local stack's embedded AWS, and the in-process tests) differs from the
real user pool in five places that matter to sign-up and password reset:

- **Admin-only pools take sign-ups.** Cognito refuses ``SignUp`` when the pool's
  ``AdminCreateUserConfig.AllowAdminCreateUserOnly`` is set (``NotAuthorizedException``,
  "SignUp is not permitted for this user pool"); moto ignores the setting.
- **Reset codes are not checked.** moto accepts any ``ConfirmForgotPassword`` code
  that does not start with its own prefix, so any code would reset any password, and
  it hands the real code back in a response header instead of emailing it.
- **Sign-up codes are not checked either.** moto's ``ConfirmSignUp`` never reads the
  code: any code confirmed any account, and none was sent.
- **Challenge answers pick their own user.** moto's ``NEW_PASSWORD_REQUIRED`` answer sets
  the password of whichever user it names, not the user whose session it carries.
- **Invited users get no password.** ``AdminCreateUser`` without a temporary password
  leaves the user none (Cognito makes one and emails it), and ``MessageAction=RESEND``
  adds a second user of the same email instead of sending the first one's again (Cognito
  refuses it, ``UnsupportedUserStateException``, once the account is in use).

``install`` patches moto's Cognito so that it behaves like Cognito on these five:
sign-up is refused on admin-only pools, ``ForgotPassword`` draws a six-digit code,
keeps it on the user (so it survives restarts with the rest of the pool) and "emails"
it by appending a line to the outbox file (the local stack's ``mail.log`` in its data
folder: there is no mail server on one machine), ``ConfirmForgotPassword`` takes
exactly that code, once, within an hour, and a wrong one or an unknown address both
answer ``CodeMismatchException``, as a pool that prevents user-existence errors does.
``SignUp`` draws and "emails" a code the same way, which ``ConfirmSignUp`` takes once,
within a day (Cognito's validity for sign-up codes), on the same terms; moto has no
``ResendConfirmationCode``, added here: a new code for an account still to confirm.
An invited user's temporary password is drawn and "emailed" the same way.
After ``MAX_WRONG_CODES`` wrong codes the code is void (``LimitExceededException``, as
Cognito answers), so a six-digit code cannot be guessed: ``ConfirmForgotPassword`` is
a public call that the API's per-address limit does not stand in front of.
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from moto.cognitoidp.exceptions import (
    CodeMismatchException,
    ExpiredCodeException,
    InvalidParameterException,
    NotAuthorizedError,
    UserNotFoundError,
)
from moto.cognitoidp.models import CognitoIdpBackend, UserStatus
from moto.cognitoidp.responses import CognitoIdpResponse
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult

# moto compares a submitted code with the user's only when the code carries this prefix.
_MOTO_PREFIX = "moto-confirmation-code:"
# Cognito's reset codes are valid for an hour, its sign-up confirmation codes for a day.
CODE_SECONDS = 3600
SIGN_UP_CODE_SECONDS = 24 * 3600
# Wrong codes a reset or sign-up code survives; the next request must ask for a new one.
MAX_WRONG_CODES = 5
# What a spent code is replaced with: no submitted code (digits) can equal it.
_VOID = "void"
_PATCHED = ("sign_up", "forgot_password", "confirm_forgot_password", "respond_to_auth_challenge", "admin_create_user")
_outbox_lock = threading.Lock()


class LimitExceededError(JsonRESTError):
    """Cognito's answer once a code was guessed wrong too often (moto has none)."""

    def __init__(self) -> None:
        super().__init__("LimitExceededException", "Attempt limit exceeded, please try after some time.")


class UnsupportedUserStateError(JsonRESTError):
    """Cognito's answer to resending the invitation of an account already in use (moto has none)."""

    def __init__(self) -> None:
        super().__init__("UnsupportedUserStateException", "User is already confirmed.")


def temporary_password() -> str:
    """A temporary password within the pool's rules (upper and lower case, digits, a symbol, 12+)."""
    return f"Tmp-{secrets.token_hex(6)}-Q7"


def _issued(user: Any) -> tuple[str, int, int] | None:
    """The code issued to ``user`` (sign-up or reset), when it expires, and the wrong codes it took; None if none."""
    kept = getattr(user, "confirmation_code", None) if user is not None else None
    if not isinstance(kept, str) or not kept.startswith(_MOTO_PREFIX):
        return None
    code, _, rest = kept[len(_MOTO_PREFIX) :].partition(":")
    expires, _, wrong = rest.partition(":")
    if not expires.isdigit():
        return None
    return code, int(expires), int(wrong) if wrong.isdigit() else 0


def now() -> float:
    """The pool's clock for codes (seconds): the wall clock, which a test may move on."""
    return time.time()


def _check(user: Any, code: str) -> None:
    """Pass when ``code`` is the one issued to ``user`` and still good; raise Cognito's answer otherwise.

    A wrong code counts against the issued one: the ``MAX_WRONG_CODES``-th voids it.
    """
    issued = _issued(user)
    if issued is None:
        raise CodeMismatchException("Invalid verification code provided, please try again.")
    expected, expires, wrong = issued
    if expected == _VOID:
        if now() <= expires:
            raise LimitExceededError()
        raise ExpiredCodeException("Invalid code provided, please request a code again.")
    if not hmac.compare_digest(expected.encode(), code.encode()):
        if wrong + 1 >= MAX_WRONG_CODES:
            # Void: until it expires, every answer is the limit, and only a new code helps.
            _keep(user, _VOID, expires, wrong + 1)
            raise LimitExceededError()
        _keep(user, expected, expires, wrong + 1)
        raise CodeMismatchException("Invalid verification code provided, please try again.")
    if now() > expires:
        raise ExpiredCodeException("Invalid code provided, please request a code again.")


def _issue(outbox: Path, user: Any, username: str, seconds: int, what: str) -> None:
    """Draw a six-digit code for ``user``, keep it on them for ``seconds``, and "email" it."""
    code = f"{secrets.randbelow(1_000_000):06d}"
    _keep(user, code, int(now()) + seconds, 0)
    _send(outbox, f"to {username}: your {what} is {code}")


def _keep(user: Any, code: str, expires: int, wrong: int) -> None:
    # Where moto keeps the code it checks, so it is saved with the pool and survives restarts.
    user.confirmation_code = f"{_MOTO_PREFIX}{code}:{expires}:{wrong}"


def _pool_of(backend: Any, client_id: str) -> Any:
    return next((pool for pool in backend.user_pools.values() if client_id in pool.clients), None)


def _named_user(response: Any) -> tuple[Any, str]:
    """The user a client-side Cognito request (its ClientId and Username) names, or None; and that name."""
    client_id = response._get_param("ClientId")
    username = response._get_param("Username")
    pool = _pool_of(response._get_region_agnostic_backend()._find_backend_for_clientid(client_id), client_id)
    return (pool._get_user(username) if pool is not None else None), username


def _send(outbox: Path, line: str) -> None:
    """Append one message to the outbox, readable by its owner only (it holds codes)."""
    with _outbox_lock:
        fd = os.open(outbox, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as out:
            out.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {line}\n")


def install(outbox: Path) -> Callable[[], None]:
    """Make moto's Cognito strict as described above, sending codes to ``outbox``; returns the undo."""
    originals = {name: getattr(CognitoIdpBackend, name) for name in _PATCHED}
    original_confirm_sign_up_response = CognitoIdpResponse.confirm_sign_up

    def sign_up(self: Any, client_id: str, username: str, password: str, attributes: Any) -> Any:
        pool = _pool_of(self, client_id)
        config = (pool.extended_config.get("AdminCreateUserConfig") or {}) if pool is not None else {}
        if config.get("AllowAdminCreateUserOnly"):
            raise NotAuthorizedError("SignUp is not permitted for this user pool.")
        user, delivery = originals["sign_up"](self, client_id, username, password, attributes)
        _issue(outbox, user, username, SIGN_UP_CODE_SECONDS, "confirmation code")
        return user, delivery

    def confirm_sign_up_response(self: Any) -> Any:
        # moto's backend is never given the code: it is checked here, before the backend confirms.
        user, _ = _named_user(self)
        if user is None:
            return original_confirm_sign_up_response(self)  # UserNotFoundException, as Cognito
        _check(user, self._get_param("ConfirmationCode") or "")
        answer = original_confirm_sign_up_response(self)
        user.confirmation_code = None  # once
        return answer

    def resend_confirmation_code_response(self: Any) -> Any:
        # moto has no ResendConfirmationCode: Cognito's, for an account still to confirm.
        user, username = _named_user(self)
        if user is None:
            raise UserNotFoundError(username)
        if user.status != UserStatus.UNCONFIRMED:
            raise InvalidParameterException("User is already confirmed.")
        _issue(outbox, user, username, SIGN_UP_CODE_SECONDS, "confirmation code")
        return ActionResult(
            {"CodeDeliveryDetails": {"Destination": username, "DeliveryMedium": "EMAIL", "AttributeName": "email"}}
        )

    def forgot_password(self: Any, client_id: str, username: str) -> tuple[str | None, dict[str, Any]]:
        _, response = originals["forgot_password"](self, client_id, username)
        pool = _pool_of(self, client_id)
        user = pool._get_user(username) if pool is not None else None
        if user is not None:
            _issue(outbox, user, username, CODE_SECONDS, "password reset code")
        # Never in the response: the code reaches its owner through the outbox alone.
        return None, response

    def confirm_forgot_password(self: Any, client_id: str, username: str, password: str, code: str) -> None:
        pool = _pool_of(self, client_id)
        user = pool._get_user(username) if pool is not None else None
        _check(user, code)
        assert user is not None  # _check found the code on it
        originals["confirm_forgot_password"](self, client_id, username, password, user.confirmation_code)

    def respond_to_auth_challenge(
        self: Any, session: str, client_id: str, challenge_name: str, challenge_responses: dict[str, str]
    ) -> Any:
        if challenge_name == "NEW_PASSWORD_REQUIRED" and session in self.sessions:
            started_by, pool = self.sessions[session]
            named = pool._get_user(challenge_responses.get("USERNAME") or "")
            if named is None or named is not pool._get_user(started_by):
                raise NotAuthorizedError("Invalid session for the user.")
        return originals["respond_to_auth_challenge"](self, session, client_id, challenge_name, challenge_responses)

    def admin_create_user(
        self: Any,
        user_pool_id: str,
        username: str,
        message_action: str,
        temporary_password_given: str,
        attributes: list[dict[str, str]],
    ) -> Any:
        if message_action == "RESEND":
            user = self.admin_get_user(user_pool_id, username)  # UserNotFoundException as Cognito
            if user.status != "FORCE_CHANGE_PASSWORD":
                raise UnsupportedUserStateError()
            user.password = temporary_password()
            _send(outbox, f"to {username}: your temporary password is {user.password}")
            return user
        password = temporary_password_given or temporary_password()
        user = originals["admin_create_user"](self, user_pool_id, username, message_action, password, attributes)
        if message_action != "SUPPRESS":
            _send(outbox, f"to {username}: your temporary password is {password}")
        return user

    patches = {
        "sign_up": sign_up,
        "forgot_password": forgot_password,
        "confirm_forgot_password": confirm_forgot_password,
        "respond_to_auth_challenge": respond_to_auth_challenge,
        "admin_create_user": admin_create_user,
    }
    for name, patched in patches.items():
        setattr(CognitoIdpBackend, name, patched)
    CognitoIdpResponse.confirm_sign_up = confirm_sign_up_response  # type: ignore[method-assign]
    CognitoIdpResponse.resend_confirmation_code = resend_confirmation_code_response  # type: ignore[attr-defined]

    def undo() -> None:
        for name, original in originals.items():
            setattr(CognitoIdpBackend, name, original)
        CognitoIdpResponse.confirm_sign_up = original_confirm_sign_up_response  # type: ignore[method-assign]
        del CognitoIdpResponse.resend_confirmation_code  # type: ignore[attr-defined]

    return undo
