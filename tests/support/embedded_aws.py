"""The embedded AWS of the local stack (moto behind ``local.aws_server.Guard``) served in-process for tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moto.moto_api._internal.models import moto_api_backend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from local.aws_server import Guard
from local.journal import Journal


@dataclass
class Served:
    """Where the guarded moto answers, and its guard."""

    url: str
    guard: Guard


def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def guarded_moto(*, key_id: str, secret: str, journal: Path, cognito_file: Path) -> Iterator[Served]:
    """moto's server behind the stack's guard, signing with ``key_id``/``secret``, on a free port; reset after."""
    port = free_port()
    moto_api_backend.reset()
    guard = Guard(
        DomainDispatcherApplication(create_backend_app),
        host="127.0.0.1",
        port=port,
        access_key=key_id,
        secret_key=secret,
        control_token="control-token-for-tests",
        journal=Journal(journal),
        cognito_file=cognito_file,
    )
    server = make_server("127.0.0.1", port, guard, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Served(url=f"http://127.0.0.1:{port}", guard=guard)
    finally:
        moto_api_backend.reset()
        server.shutdown()
        guard.journal.close()


def point_boto3_at(served: Served, monkeypatch: Any, *, key_id: str, secret: str) -> None:
    """Make boto3 anywhere in this process (a tool's own session) talk to ``served`` with these credentials.

    One attempt per call: a refusal is an answer, not something to retry.
    """
    for name, value in {
        "AWS_ACCESS_KEY_ID": key_id,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_ENDPOINT_URL": served.url,
        "AWS_MAX_ATTEMPTS": "1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
