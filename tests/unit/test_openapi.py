"""openapi.yaml describes the real API: same routes and methods, and a valid spec."""

from __future__ import annotations

from pathlib import Path

import yaml
from openapi_spec_validator import validate

from app import app

SPEC = yaml.safe_load((Path(__file__).parents[2] / "openapi.yaml").read_text())
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def test_spec_is_valid_openapi() -> None:
    validate(SPEC)


def test_spec_and_chalice_list_the_same_routes_and_methods() -> None:
    documented = {
        (path, method.upper()) for path, item in SPEC["paths"].items() for method in item if method in HTTP_METHODS
    }
    served = {(path, method) for path, methods in app.routes.items() for method in methods if method != "OPTIONS"}
    assert documented == served


def test_documented_limits_match_the_code() -> None:
    from chalicelib import settings

    batch = SPEC["components"]["schemas"]["Batch"]["properties"]
    assert batch["seq"]["maximum"] == settings.MAX_SEQ
    assert batch["events"]["maxItems"] == settings.MAX_EVENTS_PER_BATCH
    listing = next(p for p in SPEC["paths"]["/recordings"]["get"]["parameters"] if p["name"] == "limit")
    assert (listing["schema"]["maximum"], listing["schema"]["default"]) == (
        settings.LIST_LIMIT_MAX,
        settings.LIST_LIMIT_DEFAULT,
    )
