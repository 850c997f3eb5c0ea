"""The in-process stack on moto: its names, the site's origin, and what makes moto quick to set up."""

from __future__ import annotations

import functools
import json
from typing import Any, ClassVar

import botocore.loaders
import botocore.session
from joserfc import jwk
from moto.cognitoidp import models as moto_cognito
from moto.core import serialize as moto_serialize

import local  # noqa: F401  (puts api/ on the import path)
from chalicelib.aws import get_cors, get_services
from chalicelib.settings import get_settings
from local.resources import Names

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


@functools.cache
def speed_up_moto() -> None:
    """Share what every test would otherwise rebuild: botocore's parsed models, moto's pool key and aliases.

    Every boto3 session parses botocore's service models (megabytes of JSON) anew, and every
    test builds fresh sessions (the fixture's and the app's, whose caches are cleared): that
    parse was most of a functional test's time. The models are read-only data, so the
    sessions of this process share one loader and its cache; moto's state stays per test.
    """
    botocore.session.create_loader = functools.lru_cache(maxsize=None)(botocore.loaders.create_loader)
    moto_cognito.jwk = OnePoolKey
    moto_serialize.XFormedAttributePicker.get_possible_keys = AliasCache.get_possible_keys  # type: ignore[method-assign]
