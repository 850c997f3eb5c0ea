"""Bounded work per request: the worst bodies a public ingest key can send stay within budget.

The budget (docs/architecture.md) is 64 MiB for the handler's own work on one request,
accepted or refused; bench/limits.py prints the same cases' figures and times.
"""

from __future__ import annotations

import pytest

from bench import limits

EXPECTED = {
    "16 MiB string with one 4-byte character": None,
    "5 million empty objects in one event": None,
    "20,000 events": None,
    "nesting 3,990 deep (always accepted)": None,
    # Lone surrogate escapes are repaired (each becomes U+FFFD) up to settings.MAX_SURROGATE_ESCAPES
    # escapes a body; past it a body with a lone one is refused. Valid pairs are never searched.
    "16 MiB of lone surrogate escapes in one string": "invalid_json",
    "lone surrogate escapes in 20,000 events": "invalid_json",
    "lone surrogate escapes between characters": "invalid_json",
    "10,000 lone escapes in 16 MiB (repaired)": None,
    "16 MiB of emoji as escaped surrogate pairs": None,
    "one lone escape, then 16 MiB of escaped pairs": "invalid_json",
    "400,000 events": "batch_too_large",
    "700,000 minimal events": "batch_too_large",
    "nesting 100,000 deep": "too_deep",
    "gzip bomb (1 GiB of zeros)": "batch_too_large",
    "gzip member ending on the inflate step": "invalid_json",
}


@pytest.mark.parametrize("case", limits.CASES, ids=[case.name for case in limits.CASES])
def test_worst_case_bodies_get_their_answer_within_the_memory_budget(case: limits.Case) -> None:
    measured = limits.measure(case.make())
    assert measured.accepted is case.accepted
    assert measured.error == EXPECTED[case.name]
    assert measured.peak_bytes <= limits.MEMORY_BUDGET_BYTES, f"{measured.peak_bytes / 2**20:.1f} MiB"
