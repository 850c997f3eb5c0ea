"""Starts and stops the local stack: moto's server, resources, the functions AWS would run, API.

What AWS runs besides the API runs here as threads, with the settings a stack gets by
default (``infra.settings.StackSettings``, or a stack file's: ``--stack prod``): the two
stream consumers behind local event source mappings (``event_source``), the archive's
delivery stream (``delivery``), the compactor on its schedule (``schedule``), the reaper
on the bucket's object-created notifications (``notifications``), and the bucket's
lifecycle rules and the tables' TTL (``lifecycle``).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import logging
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import boto3
from chalice.local import LocalDevServer, ThreadedHTTPServer

from chalicelib import environment, function_url, settings
from chalicelib.lifecycle import bucket_rules
from chalicelib.schema import ACCESS, RECORDINGS
from infra.settings import StackSettings

from . import STOP_POLL_SECONDS, aws_server
from .credentials import local_credentials
from .delivery import LocalDelivery
from .event_source import KinesisEventSource, consumer_sources
from .lifecycle import Lifecycle
from .notifications import ObjectCreatedNotifications, reaper_notifications
from .persistence import Snapshot, check_data_dir, prepare_data_dir
from .resources import OBJECT_CREATED_QUEUE_ENV, Names, notify_object_created, provision
from .schedule import Schedule, compaction_schedule, expiry_schedule
from .site import SiteServer
from .strict_http import StrictRequestHandler

logger = logging.getLogger("rrweb.local")

# /health pings the embedded AWS at most this often.
HEALTH_CACHE_SECONDS = 1.0
# The recorder's door (a Lambda function URL on AWS: chalicelib/function_url.py) is served
# under this path of the local API, through the same handler and event format.
INGEST_PATH = "/ingest"


@dataclass(frozen=True, kw_only=True)
class StackOptions:
    """Where the local stack listens and keeps its data, and what tests may shorten.

    The functions run with a deployed stack's defaults (``StackSettings``); None below
    means that default.
    """

    data_dir: Path
    host: str = "127.0.0.1"
    api_port: int = 8000
    aws_port: int = 5000
    site_port: int = 8080
    stack: str = "local"
    # Seconds between archive objects (the delivery stream's buffer interval).
    delivery_interval: float | None = None
    snapshot_interval: float = 5.0
    # A recording idle this long is compacted (compactIdleMinutes)...
    compact_idle_seconds: int | None = None
    # ...by the compactor, which runs this often (compactEveryMinutes).
    compact_every_seconds: float | None = None

    @property
    def settings(self) -> StackSettings:
        """The stack's settings: ``Pulumi.<stack>.yaml`` over the defaults (``local`` has no file:
        a deployed stack's defaults; ``--stack prod`` runs prod's windows, as bench.browser does)."""
        return StackSettings.from_stack_file(Path(__file__).resolve().parent.parent, self.stack)

    @property
    def idle_seconds(self) -> int:
        """How long a recording stays idle before compaction."""
        if self.compact_idle_seconds is not None:
            return self.compact_idle_seconds
        return self.settings.compact_idle_minutes * 60

    @property
    def compaction_period(self) -> float:
        """Seconds between runs of the compactor."""
        if self.compact_every_seconds is not None:
            return self.compact_every_seconds
        return self.settings.compact_every_minutes * 60


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
        # The stream's two consumers: unwatched recordings' records, and watched ones'.
        self._consumers: list[KinesisEventSource] = []
        # Journal segments a checkpoint rotated away from, oldest first, with where the
        # stream ended for each consumer then: deleted once both handled up to there.
        self._unsettled: list[tuple[int, list[dict[str, str]]]] = []
        self._notifications: ObjectCreatedNotifications | None = None
        self._delivery: LocalDelivery | None = None
        self._compaction: Schedule | None = None
        self._expiry: Schedule | None = None
        self._lifecycle: Lifecycle | None = None
        self._intake = Intake()
        self._credentials: dict[str, str] = {}
        self._control_token = secrets.token_urlsafe(32)
        self._checkpoint_lock = threading.Lock()
        self._health_lock = threading.Lock()
        self._health: tuple[float, str | None] = (-HEALTH_CACHE_SECONDS, None)

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

    @property
    def ingest_url(self) -> str:
        """The recorder's door: the function URL's routes (on AWS a URL of its own, here a path of the API's)."""
        return f"{self.api_url}{INGEST_PATH}"

    def start(self) -> None:
        """Start everything; returns once the API answers."""
        prepare_data_dir(self.options.data_dir)  # 0700: it holds every recording and the keys' secrets
        self._credentials = local_credentials(self.options.data_dir)
        # A damaged journal or snapshot stops the start here, before anything reads or rewrites it.
        check_data_dir(self.options.data_dir)
        self._start_moto()
        settings = self.options.settings
        os.environ.update(
            {
                **self._credentials,
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_REGION": "us-east-1",
                "AWS_ENDPOINT_URL": self.aws_url,
                environment.ALLOWED_ORIGINS: ",".join(self.site_origins),
                environment.COMPACT_IDLE_SECONDS: str(self.options.idle_seconds),
                environment.RETENTION_DAYS: str(settings.retention_days),
                environment.UNWATCHED_WINDOW_SECONDS: str(settings.consumer_unwatched_window_seconds),
                **self.names.environment(),
            }
        )
        session = boto3.session.Session(region_name="us-east-1")
        os.environ.update(
            provision(
                session,
                self.names,
                buffer_seconds=settings.archive_buffer_seconds,
                buffer_mb=settings.archive_buffer_mb,
                shards=settings.kinesis_shards if settings.kinesis_mode == "provisioned" else None,
                notify=False,
                lifecycle=bucket_rules(
                    retention_days=settings.retention_days,
                    archive_retention_days=settings.archive_retention_days,
                    versioning=settings.versioning,
                    glacier_after_days=settings.glacier_after_days,
                ),
            )
        )
        self._snapshot = Snapshot(session=session, names=self.names, directory=self.options.data_dir / "state")
        restored = self._snapshot.restore()
        logger.info("restored %d recordings' metadata items", restored)
        # Only now: the snapshot's objects were handled before it was saved, while what
        # the journal replays may not have been.
        notify_object_created(session, self.names)
        # What was acknowledged after the snapshot, replayed before the API takes requests.
        replayed = self._journal("replay")
        logger.info("replayed %(entries)d journaled writes (%(applied)d applied)", replayed)

        # What Lambda and Firehose do with the stream, and EventBridge with the compactor.
        self._consumers = consumer_sources(
            session,
            stream=self.names.stream,
            failure_queue_url=os.environ[environment.FAILURE_QUEUE_URL],
            settings=settings,
        )
        self._notifications = reaper_notifications(session, queue_url=os.environ[OBJECT_CREATED_QUEUE_ENV])
        self._delivery = LocalDelivery(session=session, delivery_stream=self.names.delivery)
        self._compaction = compaction_schedule(period=self.options.compaction_period, rule="compact_recordings")
        for consumer, name in zip(self._consumers, ("consumer", "watched-consumer"), strict=True):
            self._spawn(name, consumer.run, self._stop)
        self._spawn("notifications", self._notifications.run, self._stop)
        self._spawn("delivery", self._delivery.run, self._stop, interval=self.options.delivery_interval)
        self._spawn("compaction", self._compaction.run, self._stop)
        self._expiry = expiry_schedule()
        self._spawn("expiry", self._expiry.run, self._stop)
        # What S3's lifecycle rules and DynamoDB's TTL do on AWS (moto stores both, runs neither).
        self._lifecycle = Lifecycle(
            session,
            bucket=self.names.bucket,
            tables={self.names.table: RECORDINGS.ttl_attribute, self.names.access_table: ACCESS.ttl_attribute},
        )
        self._spawn("lifecycle", self._lifecycle.run, self._stop)
        self._spawn("checkpoint", self._checkpoints, interval=self.options.snapshot_interval)
        self._spawn("aws-watch", self._watch_aws)
        self._start_api()
        self._site = SiteServer(
            host=self.options.host,
            port=self.options.site_port,
            config={
                "apiUrl": self.api_url,
                "ingestUrl": self.ingest_url,
                "region": "us-east-1",
                "userPoolId": os.environ[environment.USER_POOL_ID],
                "userPoolClientId": os.environ[environment.USER_POOL_CLIENT_ID],
                # No mail server on one machine: the site says where codes are "emailed".
                "mailbox": str(self.options.data_dir / "mail.log"),
            },
        )
        self._site.start()

    def _spawn(self, name: str, target: Any, *args: Any, **kwargs: Any) -> None:
        thread = threading.Thread(target=target, args=args, kwargs=kwargs, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _journal(self, action: str, query: str = "") -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310 (loopback URL we built)
            f"{self.aws_url}/_rrweb/journal/{action}{query}",
            data=b"",
            method="POST",
            headers={aws_server.CONTROL_HEADER: self._control_token},
        )
        with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310
            return json.loads(response.read())

    def checkpoint(self, *, drain: bool = False) -> None:
        """Make the snapshot cover the journal's older segments, then delete those it covers.

        Rotate first: every write in the older segments happened before. Read the stream
        to where it ends now (every record of those segments is before that mark), deliver
        the archive, and hand the bucket's pending notifications to the reaper (the queue
        does not outlive the process); then save the snapshot. A segment is deleted only
        once both consumers had handled every record up to its mark before the save: the
        stream itself does not outlive the process, and a consumer's window (a minute for
        prod's unwatched recordings) is not cut short for a checkpoint, as Lambda would
        not. A crash at any step leaves the segments on disk, and the next start replays
        them over the snapshot: into a fresh stream, which the new consumers and delivery
        read from its start, and a bucket that notifies again of every object replayed.
        ``drain`` (the last checkpoint, at stop) hands every record over first instead.
        """
        with self._checkpoint_lock:
            segment = self._journal("rotate")["segment"]
            for consumer in self._consumers if drain else ():
                consumer.poll(flush=True)
            self._unsettled.append((segment, [consumer.read_now() for consumer in self._consumers]))
            if self._notifications is not None:
                self._notifications.poll()
            if self._delivery is not None:
                self._delivery.deliver()
            # Before the save: what was handled by now is in the bucket the snapshot saves.
            settled = None
            while self._unsettled and all(
                consumer.handled(marks) for consumer, marks in zip(self._consumers, self._unsettled[0][1], strict=True)
            ):
                settled = self._unsettled.pop(0)[0]
            if self._snapshot is not None:
                self._snapshot.save()
            if settled is not None:
                self._journal("truncate", f"?before={settled}")

    def _checkpoints(self, *, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.checkpoint()
            except Exception:
                # The segments stay on disk until a checkpoint succeeds: nothing is lost.
                logger.exception("checkpoint failed; retrying")

    @property
    def aws_exit_code(self) -> int | None:
        """The embedded AWS's exit code if its process has ended, else None."""
        return self._moto.poll() if self._moto is not None else None

    def aws_problem(self) -> str | None:
        """What is wrong with the embedded AWS (None: it answers), as ``/health`` reports it.

        Every route depends on it, so the API is not healthy without it. A ping at most
        once a second, whatever the rate of health checks.
        """
        with self._health_lock:
            checked, problem = self._health
            if time.monotonic() - checked < HEALTH_CACHE_SECONDS:
                return problem
            problem = self._probe_aws()
            self._health = (time.monotonic(), problem)
            return problem

    def _probe_aws(self) -> str | None:
        if self._moto is None:
            return "the embedded AWS (moto) is not running"
        code = self.aws_exit_code
        if code is not None:
            return f"the embedded AWS (moto) exited with code {code}; restart the stack"
        try:
            with urllib.request.urlopen(f"{self.aws_url}/moto-api/", timeout=2):  # noqa: S310 (loopback URL we built)
                return None
        except OSError:
            return "the embedded AWS (moto) is not answering"

    def _watch_aws(self) -> None:
        # moto gone, every route answers 503 (the API's own answer to a dependency that
        # refuses): say so once, loudly, with what to do. Nothing acknowledged is lost:
        # every acknowledged write is in the journal, which the next start replays.
        while not self._stop.wait(0.5):
            code = self.aws_exit_code
            if code is not None:
                logger.error(
                    "the embedded AWS (moto) exited with code %s: the API answers 503 and /health reports it. "
                    "Stop the stack (Ctrl-C) and start it again; every acknowledged write is in %s and is "
                    "replayed at start. moto's output is in %s",
                    code,
                    self.options.data_dir / "journal",
                    self.options.data_dir / "moto.log",
                )
                return

    def _start_moto(self) -> None:
        log = (self.options.data_dir / "moto.log").open("ab")
        # A process of its own: moto spends milliseconds of CPU per request, which
        # would otherwise contend with the API for one interpreter lock.
        # Its own session, so a terminal's Ctrl-C reaches only the stack, which then
        # drains the stream and saves state before stopping moto; and a parent-death
        # signal, so moto never outlives a stack that was killed outright. The wrapper
        # keeps Cognito's users across restarts (local/aws_server.py).
        self._moto = subprocess.Popen(  # noqa: S603 (fixed argv, no shell)
            [
                sys.executable,
                "-m",
                "local.aws_server",
                self.options.host,
                str(self.options.aws_port),
                str(self.options.data_dir),
            ],
            env={
                **os.environ,
                aws_server.ENV_ACCESS_KEY: self._credentials["AWS_ACCESS_KEY_ID"],
                aws_server.ENV_SECRET_KEY: self._credentials["AWS_SECRET_ACCESS_KEY"],
                aws_server.ENV_CONTROL_TOKEN: self._control_token,
                # The replay page reads compacted blocks from the bucket, as on AWS.
                aws_server.ENV_ALLOWED_ORIGINS: ",".join(self.site_origins),
                "MOTO_DISABLE_GLOBAL_CORS": "true",
            },
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        # Long enough for a moto left over from a killed stack to let go of the folder.
        _wait_for(f"{self.aws_url}/moto-api/", self._moto, timeout=120)

    def _start_api(self) -> None:
        from chalice.config import Config
        from chalice.local import CustomLocalChalice, LocalChalice

        from app import app

        config = Config.create(chalice_stage="dev", app_name=app.app_name)
        # What chalice.local.create_local_server does, with a request log that never
        # shows an ingest key passed in the query string (sendBeacon's only option).
        CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
        app.__class__ = CustomLocalChalice
        self._server = api_server(
            app,
            config,
            host=self.options.host,
            port=self.options.api_port,
            intake=self._intake,
            health=self.aws_problem,
        )
        self._spawn("api", self._server.serve_forever)
        _wait_for(f"{self.api_url}/health", None)

    def stop(self) -> None:
        """Stop taking requests, finish those in flight, drain the stream, save, and stop moto.

        In that order: a request answered after the consumer and the archive drained,
        or after moto stopped, would be acknowledged and lost, or fail. The threads
        stop first (the consumer and the delivery drain as they end, a compaction run
        under way finishes), then a last checkpoint drains again and saves.
        """
        if self._site is not None:
            self._site.stop()
        if self._server is not None:
            self._server.shutdown()  # no more accepts...
            self._server.server.server_close()  # ...and new connections are refused
            if not self._intake.close(timeout=60):
                logger.warning("requests still running after 60 s; stopping anyway")
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        if self._snapshot is not None and self._moto is not None and self._moto.poll() is None:
            self.checkpoint(drain=True)
        if self._moto is not None:
            self._moto.terminate()
            self._moto.wait(timeout=30)

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# The parameter's value whatever its spelling (Chalice decodes "ingest%4Bey"), and any
# ingest key or token shape anywhere in the line.
_KEY_IN_QUERY = re.compile(
    r"(ingest(?:K|%4[bB])ey=)[^&\s\"]+|rrk_[0-9a-f]{16}_[A-Za-z0-9_-]+|eyJ[\w-]+\.[\w-]+\.[\w-]*"
)


def redact(value: Any) -> Any:
    """A log argument without ingest keys; only strings can hold one (``%d`` needs its int)."""
    if not isinstance(value, str):
        return value
    return _KEY_IN_QUERY.sub(lambda m: (m.group(1) or "") + "[redacted]", value)


class Intake:
    """The API's connections and the requests in flight, so a stop can drain them.

    Chalice's server is a threading HTTP server with keep-alive: closing its listening
    socket stops new connections, but not new requests on open ones. So a request is
    admitted only while intake is open; at close, idle connections are shut, and the
    requests already admitted are waited for.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._open = True
        self._active = 0
        self._idle: set[socket.socket] = set()

    @property
    def is_open(self) -> bool:
        """Whether new requests are admitted."""
        return self._open

    def connected(self, connection: socket.socket) -> None:
        """A new connection, idle until its first request."""
        with self._cond:
            if self._open:
                self._idle.add(connection)
                return
        _shut(connection)

    def disconnected(self, connection: socket.socket) -> None:
        """The connection is gone."""
        with self._cond:
            self._idle.discard(connection)

    def enter(self, connection: socket.socket) -> bool:
        """Admit a request whose head was read; False once intake is closed."""
        with self._cond:
            if not self._open:
                return False
            self._idle.discard(connection)
            self._active += 1
            return True

    def leave(self, connection: socket.socket) -> None:
        """The admitted request was answered."""
        with self._cond:
            self._active -= 1
            if self._open:
                self._idle.add(connection)
            self._cond.notify_all()

    def close(self, *, timeout: float) -> bool:
        """Admit nothing more, shut idle connections, wait for the rest; False on timeout."""
        with self._cond:
            self._open = False
            idle, self._idle = self._idle, set()
        for connection in idle:
            _shut(connection)
        with self._cond:
            return self._cond.wait_for(lambda: self._active == 0, timeout=timeout)


def _shut(connection: socket.socket) -> None:
    # Wakes a handler blocked reading the next request: it reads end-of-file and ends.
    with contextlib.suppress(OSError):  # already closed by the client
        connection.shutdown(socket.SHUT_RDWR)


class ApiHTTPServer(ThreadedHTTPServer):
    """Chalice's threading server with a listen backlog for bursts (the default is 5) and a cap on connections.

    Each connection may hold a body of up to ``MAX_BODY_BYTES`` for its whole read
    timeout before anything authenticates it, and a thread: without a cap, a hundred
    slow senders cost hundreds of MiB. Past ``max_connections`` a new connection gets
    503 in the error shape, with ``Retry-After``, from the accepting thread, and is closed.
    """

    request_queue_size = 128
    # 64 x MAX_BODY_BYTES is 256 MiB at worst; a browser opens at most 6 per origin.
    max_connections = 64
    busy_timeout = 1.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._slots = threading.BoundedSemaphore(self.max_connections)
        super().__init__(*args, **kwargs)

    def serve_forever(self, poll_interval: float = STOP_POLL_SECONDS) -> None:
        """Serve until ``shutdown``, which then waits at most ``poll_interval``."""
        super().serve_forever(poll_interval)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            _answer_busy(request, timeout=self.busy_timeout)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def _answer_busy(connection: socket.socket, *, timeout: float) -> None:
    body = json.dumps(
        {"error": {"code": "unavailable", "message": "too many connections to the local API; try again in a second"}}
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
        f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with contextlib.suppress(OSError):
        connection.settimeout(timeout)  # never let one slow reader hold the accepting thread
        connection.sendall(head + body)


def api_server(
    app: Any, config: Any, *, host: str, port: int, intake: Intake, health: Callable[[], str | None]
) -> LocalDevServer:
    """The API's HTTP server: Chalice's, behind the strict request reading API Gateway does.

    ``health`` says what is wrong with what the API depends on (None: nothing), for
    ``/health``.
    """
    return LocalDevServer(app, config, host, port, handler_cls=_api_handler(intake, health), server_cls=ApiHTTPServer)


def _api_handler(intake: Intake, health: Callable[[], str | None]) -> type:
    from chalice.local import ChaliceRequestHandler, RouteMatcher

    class ApiRequestHandler(StrictRequestHandler, ChaliceRequestHandler):
        """Chalice's request handler behind strict reading: secret-free log, drainable intake."""

        # The largest body any route takes: API Gateway would take up to its own 10 MB,
        # but the app refuses more than this anyway, and here it would read it first.
        max_body_bytes = settings.MAX_BODY_BYTES

        def __init__(self, request: Any, client_address: Any, server: Any, app_object: Any, config: Any) -> None:
            # Set before the base class handles the connection (inside its __init__).
            self._routes = RouteMatcher(list(app_object.routes))
            # Chalice's __init__ is the one the method order reaches (StrictRequestHandler has none).
            ChaliceRequestHandler.__init__(self, request, client_address, server, app_object, config)

        def setup(self) -> None:
            super().setup()
            # The caller's address, as API Gateway gives it (requestContext.identity.sourceIp):
            # Chalice's local gateway would say 127.0.0.1 for every caller, making all of
            # them one client to the per-client limits.
            self.local_gateway.event_converter.LOCAL_SOURCE_IP = self.client_address[0]
            intake.connected(self.connection)

        def finish(self) -> None:
            try:
                super().finish()
            finally:
                intake.disconnected(self.connection)

        def admit(self) -> bool:
            # Stopping: the request is dropped unanswered, so never acknowledged.
            return intake.enter(self.connection)

        def release(self) -> None:
            intake.leave(self.connection)

        def handle_one_request(self) -> None:
            super().handle_one_request()
            if not intake.is_open:
                self.close_connection = True

        def dispatch(self) -> None:
            path = urllib.parse.urlsplit(self.path).path
            if path == INGEST_PATH or path.startswith(f"{INGEST_PATH}/"):
                self._ingest_door()
                return
            try:
                self._routes.match_route(path)
            except ValueError:
                # What API Gateway answers for a path no route has (its
                # MISSING_AUTHENTICATION_TOKEN response, reshaped in infra/api.py).
                self.send_json(HTTPStatus.NOT_FOUND, function_url.NOT_FOUND)
                return
            if path == "/health" and self.command in ("GET", "HEAD"):
                problem = health()
                if problem is not None:
                    self.send_json(
                        HTTPStatus.SERVICE_UNAVAILABLE,
                        {"error": {"code": "unavailable", "message": problem}},
                        {"Retry-After": "5", "Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"},
                    )
                    return
            super().dispatch()

        def _ingest_door(self) -> None:
            # The function URL's door (chalicelib.function_url), under a path of its own
            # here: the request as Lambda would deliver it, to the same handler.
            from chalice.local import LambdaContext

            from app import ingest

            split = urllib.parse.urlsplit(self.path)
            event = function_url.url_event(
                method=self.command,
                path=split.path[len(INGEST_PATH) :] or "/",
                query=split.query,
                headers=dict(self.headers),
                body=self.body or b"",
                source_ip=self.client_address[0],
                request_id=uuid.uuid4().hex,
            )
            answer = ingest(event, LambdaContext("ingest", memory_size=512))
            body = answer["body"]
            data = base64.b64decode(body) if answer.get("isBase64Encoded") else body.encode("utf-8")
            self.send_response(answer["statusCode"])
            headers = {name.lower(): value for name, value in answer.get("headers", {}).items()}
            headers.setdefault("content-type", "application/json")
            headers["content-length"] = str(len(data))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _parse_payload(self) -> tuple[dict[str, Any], bytes | None]:
            # The body was read whole (and checked) before the request was dispatched.
            return dict(self.headers), self.body or None

        def _send_http_response_with_body(self, code: int, headers: dict[str, Any], body: str | bytes) -> None:
            if self.command != "HEAD":
                super()._send_http_response_with_body(code, headers, body)
                return
            # Chalice writes a body after HEAD too: on a kept-alive connection the client,
            # which reads none, would take it for the start of its next answer.
            data = body if isinstance(body, bytes) else body.encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
            self._send_headers(headers)

        def end_headers(self) -> None:
            if not intake.is_open and not self.close_connection:
                self.send_header("Connection", "close")
            super().end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (base class signature)
            super().log_message(format, *(redact(arg) for arg in args))

    return ApiRequestHandler


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
