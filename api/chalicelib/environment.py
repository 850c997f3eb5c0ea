"""The environment variables the functions read: each name written once.

``settings.get_settings`` reads them; the Pulumi program (``infra/api.py``) and the local
stack (``local/``) set them, importing the names from here, so a name cannot be spelled
one way where it is written and another where it is read.
"""

from __future__ import annotations

# Resource names.
BUCKET = "RRWEB_BUCKET"
TABLE = "RRWEB_TABLE"
ACCESS_TABLE = "RRWEB_ACCESS_TABLE"
STREAM = "RRWEB_STREAM"
USER_POOL_ID = "RRWEB_USER_POOL_ID"
USER_POOL_CLIENT_ID = "RRWEB_USER_POOL_CLIENT_ID"
# Where the consumer reports records it can never store (an SQS queue URL).
FAILURE_QUEUE_URL = "RRWEB_FAILURE_QUEUE_URL"
# Stack settings.
RETENTION_DAYS = "RRWEB_RETENTION_DAYS"
ALLOWED_ORIGINS = "RRWEB_ALLOWED_ORIGINS"
COMPACT_IDLE_SECONDS = "RRWEB_COMPACT_IDLE_SECONDS"
SHARE_MAX_DAYS = "RRWEB_SHARE_MAX_DAYS"
# How long the unwatched consumer gathers records (consumerUnwatchedWindowSeconds).
UNWATCHED_WINDOW_SECONDS = "RRWEB_UNWATCHED_WINDOW_SECONDS"
# What the stack's CloudFront distribution sends as X-Origin-Verify (the HTTP handler only).
ORIGIN_SECRET = "RRWEB_ORIGIN_SECRET"  # noqa: S105 (the variable's name, not its value)

_LIMIT_PREFIX = "RRWEB_LIMIT_"


def limit(field: str) -> str:
    """The variable that overrides one ``settings.Limits`` field: ``key_requests`` is ``RRWEB_LIMIT_KEY_REQUESTS``."""
    return _LIMIT_PREFIX + field.upper()
