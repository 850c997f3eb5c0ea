"""The in-process stack on moto: its names, the site's origin, and what makes moto quick to set up."""

from __future__ import annotations

import _thread
import contextlib
import copy
import copyreg
import functools
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, cast

import botocore.loaders
import botocore.session
from joserfc import jwk
from moto.backends import SERVICE_NAMES, get_backend
from moto.cognitoidp import models as moto_cognito
from moto.core import serialize as moto_serialize
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends

import local  # noqa: F401  (puts api/ on the import path)
from chalicelib.aws import get_cors, get_services
from chalicelib.settings import get_settings
from local.resources import Names, provision

NAMES = Names.for_stack("test")
SITE_ORIGIN = "https://site.test"


def clear_caches() -> None:
    """Forget the app's settings and clients, so the next request reads the environment anew."""
    get_settings.cache_clear()
    get_services.cache_clear()
    get_cors.cache_clear()


class OnePoolKey:
    """moto's ``jwk`` for its user pools, importing their one fixed signing key once per process.

    moto signs every pool's tokens with the same key from its resources, and imports it
    again for each new pool (recovering the RSA primes: a sixth of a test's setup). The
    pools themselves, their users and tokens stay per test.
    """

    class RSAKey:
        """The part of ``joserfc.jwk`` moto's Cognito calls."""

        @staticmethod
        def import_key(data: dict[str, Any]) -> Any:
            """The key of ``data``, imported once per distinct key."""
            return OnePoolKey.imported(json.dumps(data, sort_keys=True))

    @staticmethod
    @functools.cache
    def imported(text: str) -> Any:
        """The imported key of a JWK's canonical JSON text."""
        return jwk.RSAKey.import_key(json.loads(text))


class AliasCache:
    """moto's response serializer, remembering which keys a dict's member may be under.

    For every member of every structure in a response, moto asks six alias providers
    where the value might be kept on the Python object, and for a dict (DynamoDB's
    items, most JSON answers) the answer depends only on the member's shape, its parent
    shape and its key: a tenth of a test that reads items went into asking again. The
    keys tried, their order and the value found are moto's own.
    """

    original = moto_serialize.XFormedAttributePicker.get_possible_keys
    keys: ClassVar[dict[tuple[int, int, str], tuple[Any, Any, tuple[str, ...]]]] = {}

    @staticmethod
    def get_possible_keys(picker: Any, context: Any) -> Any:
        """moto's candidate keys, computed once per shape, parent and key for a plain dict."""
        if type(context.obj) is not dict or picker.alias_providers is not moto_serialize.DEFAULT_ALIAS_PROVIDERS:
            return AliasCache.original(picker, context)
        shape = context.shape
        parent = getattr(shape, "parent", None)
        slot = (id(shape), id(parent), context.key)
        known = AliasCache.keys.get(slot)
        # Shapes are long-lived (one loader per process); holding them keeps their ids unique.
        if known is None or known[0] is not shape or known[1] is not parent:
            known = (shape, parent, tuple(AliasCache.original(picker, context)))
            AliasCache.keys[slot] = known
        return known[2]


@contextlib.contextmanager
def _locks_copied_anew() -> Iterator[None]:
    """While it lasts, a deep copy of a lock or a condition is a new one (moto's models hold a few)."""
    factories: dict[type, Callable[[], object]] = {
        _thread.LockType: threading.Lock,
        type(threading.RLock()): threading.RLock,
        threading.Condition: threading.Condition,
    }
    for kind, factory in factories.items():
        # Cast: mypy cannot infer a lambda with more parameters (the bound default) than its context.
        copyreg.pickle(
            kind,
            cast(
                Callable[[object], tuple[Callable[[], object], tuple[()]]], lambda _lock, factory=factory: (factory, ())
            ),
        )
    try:
        yield
    finally:
        for kind in factories:
            copyreg.dispatch_table.pop(kind, None)


class ProvisionedStack:
    """The stack's resources in moto, provisioned once per process and restored for each test.

    ``provision`` takes a tenth of a second of API calls; a deep copy of moto's state for
    the services it touches, taken right after it ran, restores the same state in a
    millisecond or two. Each test still gets its own copy under its own ``mock_aws``:
    nothing one test writes is seen by another.
    """

    # Every service ``provision`` creates something in.
    SERVICES: ClassVar[tuple[SERVICE_NAMES, ...]] = ("s3", "dynamodb", "kinesis", "firehose", "sqs", "cognito-idp")
    _state: ClassVar[dict[str, Any] | None] = None

    @classmethod
    def create(cls, session: Any) -> dict[str, str]:
        """The stack's resources in the running ``mock_aws``; returns what ``provision`` returns."""
        if cls._state is None:
            environment = provision(session, NAMES)
            with _locks_copied_anew():
                cls._state = copy.deepcopy(
                    {
                        "backends": {
                            service: dict(get_backend(service)[DEFAULT_ACCOUNT_ID]) for service in cls.SERVICES
                        },
                        "bucket_accounts": dict(s3_backends.bucket_accounts),
                        "environment": environment,
                    }
                )
            return environment
        with _locks_copied_anew():
            state = copy.deepcopy(cls._state)
        for service, regions in state["backends"].items():
            for region, backend in regions.items():
                get_backend(service)[DEFAULT_ACCOUNT_ID][region] = backend
        s3_backends.bucket_accounts.update(state["bucket_accounts"])
        return dict(state["environment"])


@functools.cache
def speed_up_moto() -> None:
    """Share what every test would otherwise rebuild: botocore's parsed models, moto's pool key and aliases.

    Every boto3 session parses botocore's service models (megabytes of JSON) anew, and every
    test builds fresh sessions (the fixture's and the app's, whose caches are cleared): that
    parse was most of a functional test's time. The models are read-only data, so the
    sessions of this process share one loader and its cache; moto's state stays per test.
    """
    botocore.session.create_loader = functools.lru_cache(maxsize=None)(botocore.loaders.create_loader)
    # Deliberately ill-typed: a class stands in for the joserfc module moto's Cognito reads jwk from,
    # and a plain function taking the picker for moto's method.
    moto_cognito.jwk = OnePoolKey  # type: ignore[attr-defined, assignment]
    moto_serialize.XFormedAttributePicker.get_possible_keys = AliasCache.get_possible_keys  # type: ignore[method-assign, assignment]
