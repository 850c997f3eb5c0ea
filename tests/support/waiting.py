"""Waiting for what the system does in its own time (a consumer, a browser), in one place.

Tests poll with ``eventually`` instead of writing their own deadline loops, so every wait
has a bound and says, when it runs out, what it last saw.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    check: Callable[[], T],
    timeout: float = 30,
    interval: float = 0.5,
    *,
    sleep: Callable[[float], object] = time.sleep,
) -> T:
    """Call ``check`` until it passes, and return what it returned.

    A check passes when it returns without raising AssertionError and its answer is None
    (a check made of asserts) or truthy (a check that answers: a list of events, a bool).
    Mind answers whose truth is not their presence: a ``requests.Response`` is falsy when
    its status is an error, so a check waiting for a 503 asserts it and returns nothing.
    Past ``timeout`` seconds the last failure is raised again as an AssertionError with its
    message (for a falsy answer: what it returned). ``sleep`` waits ``interval`` seconds
    between tries: a test driving Playwright's sync API passes one that lets the browser's
    events through, such as ``lambda s: page.wait_for_timeout(s * 1000)``.
    """
    deadline = time.monotonic() + timeout
    while True:
        failure: AssertionError | None
        try:
            result = check()
        except AssertionError as error:
            failure = error
        else:
            if result is None or result:
                return result
            failure = AssertionError(f"{getattr(check, '__name__', 'check')} still returned {result!r}")
        if time.monotonic() >= deadline:
            raise AssertionError(f"after {timeout:g} s: {failure}") from failure
        sleep(interval)
