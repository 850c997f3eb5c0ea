"""API Gateway's own answers (before any function runs) in the API's error shape."""

from __future__ import annotations

import json

import pytest

from infra.api import integration_body


def _responses() -> dict[str, dict[str, object]]:
    body = json.loads(integration_body({"swagger": "2.0", "paths": {}}, {}, "us-east-1"))
    return body["x-amazon-apigateway-gateway-responses"]


@pytest.mark.parametrize(
    ("response_type", "status", "code"),
    [
        # A path no route has: API Gateway says 403 "Missing Authentication Token" on its own.
        ("MISSING_AUTHENTICATION_TOKEN", 404, "not_found"),
        ("REQUEST_TOO_LARGE", 413, "body_too_large"),
    ],
)
def test_gateway_answers_use_the_error_shape(response_type: str, status: int, code: str) -> None:
    response = _responses()[response_type]
    assert response["statusCode"] == status
    templates = response["responseTemplates"]
    assert isinstance(templates, dict)
    error = json.loads(templates["application/json"])["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]
    # Any page may read it: the recorder runs on other origins.
    headers = response["responseParameters"]
    assert isinstance(headers, dict)
    assert headers["gatewayresponse.header.Access-Control-Allow-Origin"] == "'*'"
