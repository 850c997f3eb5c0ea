"""The one polling helper the over-HTTP and browser tests wait with."""

from __future__ import annotations

import pytest

from tests.support.waiting import eventually


def no_wait(seconds: float) -> None:
    """Sleeps nothing: the tries follow each other, and only the deadline ends them."""


def test_returns_the_first_truthy_answer() -> None:
    answers = iter([[], False, 0, "", ["event"], ["later"]])
    assert eventually(lambda: next(answers), timeout=30, sleep=no_wait) == ["event"]


def test_a_failed_assertion_is_tried_again() -> None:
    tries = []

    def stored() -> int:
        tries.append(1)
        assert len(tries) >= 3, f"only {len(tries)} stored"
        return len(tries)

    assert eventually(stored, timeout=30, sleep=no_wait) == 3


def test_out_of_time_it_raises_the_last_failure() -> None:
    tries = []

    def stored() -> bool:
        tries.append(1)
        assert len(tries) > 10_000, f"{len(tries)} of 10 events"
        return True

    with pytest.raises(AssertionError) as raised:
        eventually(stored, timeout=0.05, interval=0.01)
    assert str(raised.value).startswith(f"after 0.05 s: {len(tries)} of 10 events")
    assert len(tries) > 1


def test_out_of_time_a_falsy_answer_is_named() -> None:
    def events() -> list[str]:
        return []

    with pytest.raises(AssertionError, match=r"^after 0\.05 s: events still returned \[\]$"):
        eventually(events, timeout=0.05, interval=0.01)


def test_a_check_made_of_asserts_passes_once_they_hold() -> None:
    stored = iter([1, 2, 10])

    def all_stored() -> None:
        assert next(stored) == 10, "not all stored"

    assert eventually(all_stored, timeout=30, sleep=no_wait) is None
    assert next(stored, "spent") == "spent", "tried until the asserts held, then no more"


def test_other_errors_are_not_waited_out() -> None:
    def broken() -> bool:
        raise KeyError("id")

    with pytest.raises(KeyError):
        eventually(broken, timeout=30, sleep=no_wait)


def test_sleeps_the_interval_between_tries() -> None:
    slept: list[float] = []
    answers = iter([False, False, True])
    eventually(lambda: next(answers), interval=0.25, sleep=slept.append)
    assert slept == [0.25, 0.25]
