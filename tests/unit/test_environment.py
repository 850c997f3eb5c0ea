"""Each environment variable the functions read is named once, in ``chalicelib.environment``.

The API reads them (``settings.get_settings``); the Pulumi program and the local stack
write them. A name spelled as a string anywhere else could drift from the one read.
"""

from __future__ import annotations

import dataclasses
import io
import re
import tokenize
from pathlib import Path

import pytest

from chalicelib import environment, settings

ROOT = Path(__file__).resolve().parents[2]
# A string literal that is a whole variable name; the local stack's own variables
# (RRWEB_LOCAL_*, read only by local/) are not the API's.
NAME_LITERAL = re.compile(r"""\A[rbu]*(['"])RRWEB_(?!LOCAL_)[A-Z0-9_]*\1\Z""")


def test_no_module_but_environment_spells_a_variable_name() -> None:
    spelled = []
    for folder in ("api", "infra", "local", "ops"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == ROOT / "api" / "chalicelib" / "environment.py" or "vendor" in path.parts:
                continue
            for token in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
                if token.type == tokenize.STRING and NAME_LITERAL.match(token.string):
                    spelled.append(f"{path.relative_to(ROOT)}:{token.start[0]} {token.string}")
    assert spelled == []


def test_every_name_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        environment.BUCKET: "b",
        environment.TABLE: "t",
        environment.ACCESS_TABLE: "a",
        environment.STREAM: "s",
        environment.USER_POOL_ID: "pool",
        environment.USER_POOL_CLIENT_ID: "client",
        environment.FAILURE_QUEUE_URL: "https://queue",
        environment.RETENTION_DAYS: "3",
        environment.ALLOWED_ORIGINS: "https://site.example",
        environment.COMPACT_IDLE_SECONDS: "600",
        environment.ORIGIN_SECRET: "secret",
    }
    limits = {field.name: 7 + i for i, field in enumerate(dataclasses.fields(settings.Limits))}
    values.update({environment.limit(name): str(value) for name, value in limits.items()})
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings.get_settings.cache_clear()
    try:
        read = settings.get_settings()
    finally:
        settings.get_settings.cache_clear()
    assert (read.bucket, read.table, read.access_table, read.stream) == ("b", "t", "a", "s")
    assert (read.user_pool_id, read.user_pool_client_id) == ("pool", "client")
    assert read.failure_queue_url == "https://queue"
    assert read.retention_days == 3
    assert read.allowed_origins == ("https://site.example",)
    assert read.compact_idle_seconds == 600
    assert read.origin_secret == "secret"
    assert dataclasses.asdict(read.limits) == limits
    assert environment.limit("key_requests") == "RRWEB_LIMIT_KEY_REQUESTS"
