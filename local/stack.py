"""Starts and stops the local stack: moto's server, resources, delivery, API."""

from __future__ import annotations

import ctypes
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from .delivery import LocalDelivery
from .persistence import Snapshot
from .resources import Names, provision
from .site import SiteServer

logger = logging.getLogger("rrweb.local")

# moto accepts any credentials; these only name the local account.
_LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


@dataclass(frozen=True, kw_only=True)
class StackOptions:
    """Where the local stack listens and keeps its data."""

    data_dir: Path
    host: str = "127.0.0.1"
    api_port: int = 8000
    aws_port: int = 5000
    site_port: int = 8080
    stack: str = "local"
    delivery_interval: float = 1.0
    snapshot_interval: float = 5.0


class LocalStack:
    """The product on one machine; ``start`` then ``stop``, or use as a context manager."""

    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.names = Names.for_stack(options.stack)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._moto: subprocess.Popen[bytes] | None = None
        self._server: Any = None
        self._site: SiteServer | None = None
        self._snapshot: Snapshot | None = None

    @property
    def aws_url(self) -> str:
        """The endpoint of the embedded AWS (moto's server)."""
        return f"http://{self.options.host}:{self.options.aws_port}"

    @property
    def site_url(self) -> str:
        """Where the site is served."""
        return f"http://{self.options.host}:{self.options.site_port}"

    @property
    def site_origins(self) -> list[str]:
        """Origins allowed to read recordings: the site, by either loopback name."""
        return [self.site_url, f"http://localhost:{self.options.site_port}"]

    @property
    def api_url(self) -> str:
        """The API's base URL."""
        return f"http://{self.options.host}:{self.options.api_port}"

    def start(self) -> None:
        """Start everything; returns once the API answers."""
        self.options.data_dir.mkdir(parents=True, exist_ok=True)
        self._start_moto()
        os.environ.update(
            {
                **_LOCAL_CREDENTIALS,
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_REGION": "us-east-1",
                "AWS_ENDPOINT_URL": self.aws_url,
                "RRWEB_ALLOWED_ORIGINS": ",".join(self.site_origins),
                **self.names.environment(),
            }
        )
        session = boto3.session.Session(region_name="us-east-1")
        os.environ.update(provision(session, self.names))
        self._snapshot = Snapshot(session=session, names=self.names, directory=self.options.data_dir / "state")
        restored = self._snapshot.restore()
        logger.info("restored %d recordings' metadata items", restored)

        from chalicelib.aws import get_store

        delivery = LocalDelivery(
            session=session,
            delivery_stream=self.names.delivery,
            on_object=lambda key: get_store().recordings.reap_if_orphan(key),
        )
        self._spawn("delivery", delivery.run, self._stop, interval=self.options.delivery_interval)
        self._spawn("snapshot", self._snapshot.run, self._stop, interval=self.options.snapshot_interval)
        self._start_api()
        self._site = SiteServer(
            host=self.options.host,
            port=self.options.site_port,
            config={
                "apiUrl": self.api_url,
                "ingestUrl": self.api_url,
                "region": "us-east-1",
                "userPoolId": os.environ["RRWEB_USER_POOL_ID"],
                "userPoolClientId": os.environ["RRWEB_USER_POOL_CLIENT_ID"],
            },
        )
        self._site.start()

    def _spawn(self, name: str, target: Any, *args: Any, **kwargs: Any) -> None:
        thread = threading.Thread(target=target, args=args, kwargs=kwargs, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _start_moto(self) -> None:
        log = (self.options.data_dir / "moto.log").open("ab")
        # A process of its own: moto spends milliseconds of CPU per request, which
        # would otherwise contend with the API for one interpreter lock.
        # Its own session, so a terminal's Ctrl-C reaches only the stack, which then
        # drains delivery and saves state before stopping moto; and a parent-death
        # signal, so moto never outlives a stack that was killed outright. The wrapper
        # keeps Cognito's users across restarts (local/aws_server.py).
        self._moto = subprocess.Popen(  # noqa: S603 (fixed argv, no shell)
            [
                sys.executable,
                "-m",
                "local.aws_server",
                self.options.host,
                str(self.options.aws_port),
                str(self.options.data_dir / "cognito.pickle"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        _wait_for(f"{self.aws_url}/moto-api/", self._moto)

    def _start_api(self) -> None:
        from chalice.config import Config
        from chalice.local import CustomLocalChalice, LocalChalice, LocalDevServer

        from app import app

        config = Config.create(chalice_stage="dev", app_name=app.app_name)
        # What chalice.local.create_local_server does, with a request log that never
        # shows an ingest key passed in the query string (sendBeacon's only option).
        CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
        app.__class__ = CustomLocalChalice
        self._server = LocalDevServer(
            app, config, self.options.host, self.options.api_port, handler_cls=_redacting_handler()
        )
        self._spawn("api", self._server.serve_forever)
        _wait_for(f"{self.api_url}/health", None)

    def stop(self) -> None:
        """Stop taking requests, deliver what is in flight, save, and stop moto."""
        if self._site is not None:
            self._site.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server.server_close()
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        if self._snapshot is not None:
            self._snapshot.save()
        if self._moto is not None:
            self._moto.terminate()
            self._moto.wait(timeout=30)

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


_KEY_IN_QUERY = re.compile(r"(ingestKey=)[^&\s\"]+")


def _redacting_handler() -> type:
    from chalice.local import ChaliceRequestHandler

    class RedactingHandler(ChaliceRequestHandler):
        """Chalice's request handler, logging request lines without secrets."""

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (base class signature)
            super().log_message(format, *(_KEY_IN_QUERY.sub(r"\1[redacted]", str(arg)) for arg in args))

    return RedactingHandler


def _die_with_parent() -> None:
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _wait_for(url: str, process: subprocess.Popen[bytes] | None, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process serving {url} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (loopback URL we built)
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")
