"""The local stack's own AWS credentials: random per data folder, kept 0600, never logged.

The embedded AWS verifies every SigV4 signature (``sigv4``, ``presigned``,
``post_policy``) with them, so they must not be constants anyone could sign with.
They live in the data folder so that presigned URLs handed out before a restart
still verify after it, and so that a tool run beside the stack (``ops.rebuild
--local``) can sign as the stack does.
"""

from __future__ import annotations

import json
import os
import secrets
import string
from pathlib import Path

from .journal import CorruptDataError

CREDENTIALS_FILE = "aws-credentials.json"
# The shape of an AWS access key id (20 upper-case letters and digits), so that tools
# that check it accept it; only the secret is a secret.
_KEY_ID_ALPHABET = string.ascii_uppercase + string.digits
_KEY_ID_LENGTH = 16
# Data folders made before the key id was random used this one.
_LEGACY_KEY_ID = "local"


def _new_key_id() -> str:
    return "AKLO" + "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(_KEY_ID_LENGTH))


def _write_private(path: Path, content: dict[str, str]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(content, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def local_credentials(data_dir: Path) -> dict[str, str]:
    """The stack's credentials as environment variables, made on first start.

    A folder from before the key id was random keeps its secret and gets a random key id.
    """
    path = data_dir / CREDENTIALS_FILE
    saved: dict[str, str] = {}
    if path.exists():
        os.chmod(path, 0o600)
        try:
            loaded = json.loads(path.read_text())
        except ValueError:
            loaded = None
        if not isinstance(loaded, dict):
            # Replacing them would quietly void every presigned URL handed out and hide
            # whatever damaged the folder: stop, name the file, keep it.
            raise CorruptDataError(
                f"{path} does not read back as the stack's credentials. Restore it from a backup, or move it "
                "aside to start with new credentials (links handed out before stop working)."
            )
        saved = loaded
    secret, key_id = saved.get("secretAccessKey"), saved.get("accessKeyId")
    if not (isinstance(secret, str) and len(secret) >= 32):
        secret, key_id = secrets.token_urlsafe(32), None
    if not isinstance(key_id, str) or key_id == _LEGACY_KEY_ID or len(key_id) < 16:
        key_id = _new_key_id()
    if saved != {"accessKeyId": key_id, "secretAccessKey": secret}:
        _write_private(path, {"accessKeyId": key_id, "secretAccessKey": secret})
    return {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret}


def read_credentials(data_dir: Path) -> dict[str, str]:
    """The saved credentials of a stack's data folder (boto3's keyword names), for tools run beside it.

    Raises ValueError naming the file when there are none.
    """
    path = data_dir / CREDENTIALS_FILE
    try:
        saved = json.loads(path.read_text())
        return {"aws_access_key_id": saved["accessKeyId"], "aws_secret_access_key": saved["secretAccessKey"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"cannot read {path} ({exc}): is --data-dir the stack's data folder?") from None
