"""The local stack's credentials: made once per data folder, private, and never silently replaced."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from local.credentials import CREDENTIALS_FILE, local_credentials, read_credentials
from local.journal import CorruptDataError


def test_credentials_are_made_once_private_and_read_back(tmp_path: Path) -> None:
    first = local_credentials(tmp_path)
    path = tmp_path / CREDENTIALS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert local_credentials(tmp_path) == first
    assert read_credentials(tmp_path) == {
        "aws_access_key_id": first["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": first["AWS_SECRET_ACCESS_KEY"],
    }


@pytest.mark.parametrize("damage", [b'{"accessKeyId": "AKLO', b"\x00\x00\x00", b"[1, 2]"])
def test_a_damaged_credentials_file_stops_the_start_and_is_kept(tmp_path: Path, damage: bytes) -> None:
    local_credentials(tmp_path)
    path = tmp_path / CREDENTIALS_FILE
    path.write_bytes(damage)
    with pytest.raises(CorruptDataError, match=CREDENTIALS_FILE):
        local_credentials(tmp_path)
