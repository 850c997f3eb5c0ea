"""Who sent a request: the client address the per-address limits count.

The recorder posts straight to API Gateway, whose ``requestContext.identity.sourceIp``
is the visitor. The site reaches the API through the stack's CloudFront distribution
(sign-in, the other ``/auth/*`` routes, everything signed in), and there ``sourceIp`` is
a CloudFront edge server: every visitor behind one edge would share one budget, and one
flood would refuse sign-in to all of them. For those requests CloudFront adds
``CloudFront-Viewer-Address`` (the viewer's address and port), and the API trusts it
only when the request also carries the origin secret that the distribution adds to
every request it sends the API (``X-Origin-Verify``): anyone may call API Gateway
directly and send either header, but only CloudFront knows the secret. Any other
request (a direct call, a forged or missing secret, no secret configured) is counted by
its ``sourceIp``.
"""

from __future__ import annotations

import hmac
import ipaddress

from chalice.app import Request

# Both headers are named here once; the Pulumi program (infra/site.py) reads them too.
ORIGIN_VERIFY_HEADER = "X-Origin-Verify"
VIEWER_ADDRESS_HEADER = "CloudFront-Viewer-Address"


def viewer_ip(value: str | None) -> str | None:
    """The IP address of a ``CloudFront-Viewer-Address`` value, normalised; None when it is not one.

    CloudFront writes ``<ip>:<port>``, an IPv6 address unbracketed (``2001:db8::1:443``);
    the bracketed form (``[2001:db8::1]:443``) is read too.
    """
    if not value:
        return None
    value = value.strip()
    if value.startswith("["):
        host, bracket, _ = value[1:].partition("]")
        if not bracket:
            return None
    else:
        host = value.rpartition(":")[0]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def _same(given: str, expected: str) -> bool:
    # Constant time, so the secret cannot be guessed a character at a time; bytes,
    # since compare_digest refuses non-ASCII text.
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def client_address(request: Request, *, origin_secret: str | None) -> str | None:
    """The address a request is counted against: the CloudFront viewer's when CloudFront proved it sent it.

    ``origin_secret`` is the value the stack's distribution sends as ``X-Origin-Verify``
    (None where there is no distribution, as on the local stack).
    """
    source = ((request.context or {}).get("identity") or {}).get("sourceIp")
    if not origin_secret or not _same(request.headers.get(ORIGIN_VERIFY_HEADER.lower(), ""), origin_secret):
        return counted_address(source)
    # CloudFront sent it, and its origin request policy asks for the viewer's address.
    # Without a readable one, the edge's address is still better than none.
    return counted_address(viewer_ip(request.headers.get(VIEWER_ADDRESS_HEADER.lower())) or source)


def counted_address(address: str | None) -> str | None:
    """What a per-address budget is kept for: an IPv4 address, or an IPv6 address's /64.

    One IPv6 subscriber usually holds a whole /64 (RFC 6177), so counting each of its
    2^64 addresses apart would give one client unlimited budgets.
    """
    if not address:
        return address
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
