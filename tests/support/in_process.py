"""The in-process stack on moto: its names, the site's origin, and what makes moto quick to set up."""

from __future__ import annotations

import functools
import json
from typing import Any

import botocore.loaders
import botocore.session
from joserfc import jwk
from moto.cognitoidp import models as moto_cognito

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


@functools.cache
def speed_up_moto() -> None:
    """Share what every test would otherwise rebuild: botocore's parsed models and moto's pool key.

    Every boto3 session parses botocore's service models (megabytes of JSON) anew, and every
    test builds fresh sessions (the fixture's and the app's, whose caches are cleared): that
    parse was most of a functional test's time. The models are read-only data, so the
    sessions of this process share one loader and its cache; moto's state stays per test.
    """
    botocore.session.create_loader = functools.lru_cache(maxsize=None)(botocore.loaders.create_loader)
    moto_cognito.jwk = OnePoolKey
