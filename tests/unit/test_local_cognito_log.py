"""The embedded AWS saves Cognito's users incrementally, and they survive a kill and a restart.

A sign-in used to rewrite and fsync every pool whole (+2.1 KB more each time); now it
appends the records of what it changed. What was acknowledged is on disk: users,
passwords and issued tokens come back after a restart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore
import pytest
from botocore.config import Config
from moto.moto_api._internal.models import moto_api_backend

from local.aws_server import Guard
from local.resources import Names, provision
from tests.support.embedded_aws import guarded_moto

NAMES = Names.for_stack("cognito-log")
KEY_ID = "AKLOTESTKEY000000002"
SECRET = "cognito-log-test-secret-0123456789abcdefg"
PASSWORD = "Test-Pass-1234"
SIGN_INS = 30


@dataclass
class Served:
    url: str
    guard: Guard
    data: Path


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    data = tmp_path / "data"
    data.mkdir()
    with guarded_moto(
        key_id=KEY_ID, secret=SECRET, journal=tmp_path / "journal", cognito_file=data / "cognito.pickle"
    ) as running:
        yield Served(url=running.url, guard=running.guard, data=data)


def client(served: Served, service: str, *, signed: bool = True) -> Any:
    config = Config(signature_version="s3v4" if signed else botocore.UNSIGNED, retries={"max_attempts": 1})
    return boto3.client(
        service,
        endpoint_url=served.url,
        region_name="us-east-1",
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        config=config,
    )


class _Stack:
    def __init__(self, served: Served) -> None:
        self._served = served

    def client(self, service: str, **_: Any) -> Any:
        return client(self._served, service)


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    return {path.name: (path.stat().st_ino, path.stat().st_size) for path in folder.iterdir() if path.is_file()}


def _written(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> int:
    """Bytes written to the folder: a file replaced counts whole, a file appended to counts its growth."""
    total = 0
    for name, (inode, size) in after.items():
        old = before.get(name)
        total += size if old is None or old[0] != inode or old[1] > size else size - old[1]
    return total


def _sign_up(served: Served) -> tuple[str, str, Callable[..., dict[str, Any]]]:
    variables = provision(_Stack(served), NAMES)
    pool, app = variables["RRWEB_USER_POOL_ID"], variables["RRWEB_USER_POOL_CLIENT_ID"]
    anonymous = client(served, "cognito-idp", signed=False)
    anonymous.sign_up(ClientId=app, Username="a@example.com", Password=PASSWORD)
    anonymous.confirm_sign_up(ClientId=app, Username="a@example.com", ConfirmationCode="000000")
    return pool, app, anonymous.get_user


def _sign_in(served: Served, app: str) -> dict[str, str]:
    return client(served, "cognito-idp", signed=False).initiate_auth(
        ClientId=app,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "a@example.com", "PASSWORD": PASSWORD},
    )["AuthenticationResult"]


def test_a_sign_in_costs_its_own_records_not_the_whole_pool(served: Served) -> None:
    _, app, _ = _sign_up(served)
    costs = []
    for _ in range(SIGN_INS):
        before = _files(served.data)
        _sign_in(served, app)
        costs.append(_written(before, _files(served.data)))
    # Three tokens of about a kilobyte each, and no more however many came before.
    assert max(costs) <= 6 * 1024, costs
    assert costs[-1] <= costs[1] + 256, costs


def test_users_passwords_and_tokens_survive_a_kill_and_a_restart(served: Served) -> None:
    from local.aws_server import CognitoLog

    pool, app, get_user = _sign_up(served)
    tokens = _sign_in(served, app)
    sub = get_user(AccessToken=tokens["AccessToken"])["Username"]
    log = served.guard.cognito.path
    # A kill mid-append: a record cut short, never acknowledged.
    with log.open("ab") as out:
        out.write(b"\x00\x00\x01\x00partial")

    moto_api_backend.reset()  # the process's memory is gone; the file is not
    CognitoLog(log).load()
    # The user's id, password and the token issued before the kill all still hold.
    assert get_user(AccessToken=tokens["AccessToken"])["Username"] == sub
    again = _sign_in(served, app)
    assert get_user(AccessToken=again["AccessToken"])["Username"] == sub
    pools = client(served, "cognito-idp").list_user_pools(MaxResults=10)["UserPools"]
    assert [p["Id"] for p in pools] == [pool]


def test_a_damaged_cognito_file_stops_the_start_and_is_kept(served: Served) -> None:
    from local.aws_server import CognitoLog
    from local.journal import CorruptDataError

    _, app, _ = _sign_up(served)
    _sign_in(served, app)
    log = served.guard.cognito.path
    data = bytearray(log.read_bytes())
    data[len(data) // 2] ^= 0x20
    log.write_bytes(bytes(data))

    moto_api_backend.reset()
    with pytest.raises(CorruptDataError) as refused:
        CognitoLog(log).load()
    assert str(log) in str(refused.value)
    assert "move the file" in str(refused.value)
    assert log.read_bytes() == bytes(data)
