"""The local stack (``python -m local``) started on free ports, for the over-HTTP tests and the benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The outbox of each local stack this process started, by its API address: there is no mail
# server on one machine, so a sign-up reads its confirmation code where the stack "emails" it.
_MAILBOXES: dict[str, Path] = {}


def mailbox_of(api: str) -> Path:
    """Where the local stack answering at ``api`` (started by ``start_stack``) writes its email."""
    assert api in _MAILBOXES, f"{api} is no local stack started by this process: its email is unreadable"
    return _MAILBOXES[api]


@dataclass
class RunningStack:
    """A local stack process and where it answers."""

    process: subprocess.Popen[bytes]
    api: str
    aws: str
    site: str
    log: Path
    # Its data folder's mail.log: the codes and temporary passwords it "emails".
    mailbox: Path

    @property
    def ingest(self) -> str:
        """The recorder's door: the function URL's routes (local/stack.py serves them under /ingest)."""
        return f"{self.api}/ingest"

    def stop(self) -> None:
        """Stop it the way Ctrl-C does, and wait for the orderly shutdown."""
        self.process.send_signal(signal.SIGINT)
        assert self.process.wait(timeout=120) == 0, self.log.read_text()[-4000:]


# A load generator on loopback stands for many visitors, each behind an address of
# its own and each posting every few seconds: as fast as it can from one address, it
# would meet the per-visitor abuse limits, which real visitors never approach. Load
# tests lift those limits, nothing else (the key's budget still counts).
LOAD_ENV = {
    "RRWEB_LIMIT_CLIENT_REQUESTS": str(10**9),
    "RRWEB_LIMIT_CLIENT_BYTES": str(10**15),
    "RRWEB_LIMIT_RECORDING_REQUESTS": str(10**9),
}


def start_stack(data_dir: Path, *options: str, env: dict[str, str] | None = None) -> RunningStack:
    """Start the local stack with its data under ``data_dir``; returns once it answers.

    ``options`` go to ``python -m local`` as they are (``--compact-idle-seconds 5``);
    ``env`` adds to its environment (``LOAD_ENV`` for load tests).
    """
    api_port, aws_port, site_port = free_port(), free_port(), free_port()
    log = data_dir.parent / f"stack-{api_port}.log"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "local",
            "--api-port",
            str(api_port),
            "--aws-port",
            str(aws_port),
            "--site-port",
            str(site_port),
            "--data-dir",
            str(data_dir),
            *options,
        ],
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    api = f"http://127.0.0.1:{api_port}"
    _MAILBOXES[api] = data_dir / "mail.log"
    # A restart after SIGKILL may wait for the killed stack's moto to let go of the folder.
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-4000:]
        if "local stack is up" in log.read_text():
            return RunningStack(
                process=process,
                api=api,
                aws=f"http://127.0.0.1:{aws_port}",
                site=f"http://127.0.0.1:{site_port}",
                log=log,
                mailbox=_MAILBOXES[api],
            )
        time.sleep(0.2)
    process.kill()
    raise TimeoutError(log.read_text()[-4000:])
