"""Requests to the app in process, through Chalice's test client: credentials, bodies, event pages."""

from __future__ import annotations

import gzip
import json
from typing import Any


class AuthedHttp:
    """Chalice's test client sending one user's token unless a request sets its own."""

    def __init__(self, http: Any, headers: dict[str, str]) -> None:
        self._http = http
        self._headers = headers

    def acting_as(self, headers: dict[str, str]) -> AuthedHttp:
        """The same test client sending other credentials."""
        return AuthedHttp(self._http, headers)

    def request(self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | str = b"") -> Any:
        """One request; the user's Authorization header unless ``headers`` carry their own."""
        given = headers or {}
        merged = given if any(k.lower() == "authorization" for k in given) else {**self._headers, **given}
        return self._http.request(method=method, path=path, headers=merged, body=body)

    def get(self, path: str, **kwargs: Any) -> Any:
        """GET ``path``."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        """POST to ``path``."""
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        """PATCH ``path``."""
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        """DELETE ``path``."""
        return self.request("DELETE", path, **kwargs)

    def options(self, path: str, **kwargs: Any) -> Any:
        """OPTIONS on ``path`` (a CORS preflight)."""
        return self.request("OPTIONS", path, **kwargs)


def post_json(client: Any, path: str, body: Any, **headers: str) -> Any:
    """POST a JSON body with the Chalice test client."""
    return client.post(path, body=json.dumps(body), headers={"Content-Type": "application/json", **headers})


def post_gzip(client: Any, path: str, body: Any) -> Any:
    """POST a gzip JSON body, as the recorder does."""
    return client.post(
        path,
        body=gzip.compress(json.dumps(body).encode()),
        headers={"Content-Type": "application/octet-stream", "Content-Encoding": "gzip"},
    )


def read_events(client: Any, recording_id: str, *, gzip_ok: bool = True) -> list[dict[str, Any]]:
    """Every event of a recording through GET /events, following cursors."""
    events: list[dict[str, Any]] = []
    cursor = None
    while True:
        path = f"/recordings/{recording_id}/events" + (f"?after={cursor}" if cursor else "")
        # The binary type first: only then may a page come gzip (API Gateway's rule).
        headers = {"Accept": "application/x-ndjson"}
        if gzip_ok:
            headers["Accept-Encoding"] = "gzip"
        response = client.get(path, headers=headers)
        assert response.status_code == 200, response.body
        body = response.body
        if response.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        events.extend(json.loads(line) for line in body.splitlines())
        cursor = response.headers.get("X-Next-Cursor")
        if not cursor:
            return events


def create_recording(client: Any, **body: Any) -> str:
    """Create a recording and return its id."""
    response = post_json(client, "/recordings", body)
    assert response.status_code in (200, 201), response.body
    return response.json_body["recording"]["id"]
