"""CORS per route: ingest routes answer any origin, everything else only the site.

The recorder and the bookmarklet run on arbitrary sites and only ever write with an
ingest key, so their two routes allow every origin. Reading recordings, managing keys
and signing in happen on the site, so those routes name the configured site origins
and nothing else. Preflights are answered by the app (not by API Gateway's static
mock), because the allowed methods depend on the caller's origin.
"""

from __future__ import annotations

from collections.abc import Iterable

ANY = "any"
SITE = "site"
ALLOW_HEADERS = "Authorization,Content-Type,Content-Encoding,X-Workspace"
EXPOSE_HEADERS = "X-Next-Cursor,X-Tail-Cursor,X-Event-Count,Retry-After"
MAX_AGE = "600"


class CorsPolicy:
    """Decides the CORS headers of a response from its route's audience and the Origin."""

    def __init__(self, allowed_origins: Iterable[str]) -> None:
        self._site = frozenset(allowed_origins)

    def admits(self, audience: str, origin: str) -> bool:
        """Whether ``origin`` may call a route meant for ``audience``."""
        return audience == ANY or origin in self._site

    def response_headers(self, audience: str, origin: str | None) -> dict[str, str]:
        """Headers for an actual (non-preflight) response."""
        if not origin:
            return {}
        if audience == ANY:
            return {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": EXPOSE_HEADERS}
        if origin in self._site:
            return {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Expose-Headers": EXPOSE_HEADERS,
                "Vary": "Origin",
            }
        return {"Vary": "Origin"}

    def preflight_headers(self, audiences: dict[str, str], origin: str | None) -> dict[str, str]:
        """Headers answering OPTIONS for a path whose methods have the given audiences."""
        if not origin:
            return {}
        methods = sorted(method for method, audience in audiences.items() if self.admits(audience, origin))
        if not methods:
            return {"Vary": "Origin"}
        everyone = all(audiences[method] == ANY for method in methods)
        return {
            "Access-Control-Allow-Origin": "*" if everyone else origin,
            "Access-Control-Allow-Methods": ",".join([*methods, "OPTIONS"]),
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": MAX_AGE,
            "Vary": "Origin",
        }
