"""Tests that spend a rate budget and then expect a refusal must not straddle the turn of its window."""

from __future__ import annotations

import time

from chalicelib.limits import WINDOW_S


def early_in_a_budget_window(margin: float = 15.0) -> None:
    """Wait for the rate budgets' next one-minute window when less than ``margin`` seconds are left.

    The turn of the window gives a budget back (``chalicelib.limits``): a test spending one
    across it would see a refusal never come.
    """
    left = WINDOW_S - time.time() % WINDOW_S
    if left < margin:
        time.sleep(left + 0.05)
