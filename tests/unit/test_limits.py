"""Rate limits: leased budgets without a hot item, and per-visitor buckets without AWS calls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib import schema
from chalicelib.errors import TooManyRequestsError
from chalicelib.limits import LEASES_PER_WINDOW, WINDOW_S, RateLimiter, VisitorLimits


class Counted:
    """The access table, counting the writes each counter item takes."""

    def __init__(self, table: Any) -> None:
        self._table = table
        self.writes: dict[str, int] = {}

    def update_item(self, **kwargs: Any) -> Any:
        key = kwargs["Key"][schema.ACCESS_KEY]
        self.writes[key] = self.writes.get(key, 0) + 1
        return self._table.update_item(**kwargs)


@pytest.fixture
def table() -> Iterator[Counted]:
    with mock_aws():
        dynamodb = boto3.resource("dynamodb", region_name="us-east-1")
        dynamodb.create_table(TableName="access", BillingMode="PAY_PER_REQUEST", **schema.ACCESS.boto3())
        yield Counted(dynamodb.Table("access"))


def charge_until_refused(limiter: RateLimiter, *, budget: int, most: int) -> int:
    granted = 0
    for _ in range(most):
        try:
            limiter.charge("key#site", body_bytes=100, max_requests=budget, max_bytes=10**12)
        except TooManyRequestsError:
            break
        granted += 1
    return granted


def test_a_busy_key_costs_its_counter_item_a_hundred_writes_a_window_not_one_per_request(table: Counted) -> None:
    now = [600.0]
    limiter = RateLimiter(table=table, clock=lambda: now[0])
    granted = charge_until_refused(limiter, budget=60_000, most=70_000)
    # The whole budget is usable (one slice over at most), spent from 101 writes.
    assert 60_000 <= granted <= 60_000 + 60_000 // LEASES_PER_WINDOW
    (writes,) = table.writes.values()
    assert writes <= LEASES_PER_WINDOW + 1
    # Refused once, the instance stops asking until the window turns.
    with pytest.raises(TooManyRequestsError):
        limiter.charge("key#site", body_bytes=100, max_requests=60_000, max_bytes=10**12)
    assert sum(table.writes.values()) == writes
    now[0] += WINDOW_S
    limiter.charge("key#site", body_bytes=100, max_requests=60_000, max_bytes=10**12)
    assert len(table.writes) == 2  # a new window's counter item


def test_instances_share_one_budget(table: Counted) -> None:
    instances = [RateLimiter(table=table, clock=lambda: 600.0) for _ in range(4)]
    granted = 0
    refused: list[TooManyRequestsError | None] = [None] * len(instances)
    while not all(refused):
        for index, limiter in enumerate(instances):
            if refused[index]:
                continue
            try:
                limiter.charge("key#site", body_bytes=1, max_requests=1000, max_bytes=10**12)
                granted += 1
            except TooManyRequestsError as error:
                refused[index] = error
    assert all(1 <= int(error.headers["Retry-After"]) <= WINDOW_S + 1 for error in refused if error)
    # Each instance may strand part of its last slice; none may take more than the budget
    # plus one slice.
    assert 1000 - 4 * (1000 // LEASES_PER_WINDOW) <= granted <= 1000 + 1000 // LEASES_PER_WINDOW


def test_a_small_budget_is_exact(table: Counted) -> None:
    limiter = RateLimiter(table=table, clock=lambda: 600.0)
    assert charge_until_refused(limiter, budget=3, most=10) == 3


def test_a_body_larger_than_a_slice_of_bytes_leases_what_it_needs(table: Counted) -> None:
    limiter = RateLimiter(table=table, clock=lambda: 630.0)
    limiter.charge("key#k", body_bytes=900, max_requests=1000, max_bytes=1000)
    # Granted while the budget is not spent (a window goes at most one slice over) ...
    limiter.charge("key#k", body_bytes=900, max_requests=1000, max_bytes=1000)
    with pytest.raises(TooManyRequestsError) as refused:
        limiter.charge("key#k", body_bytes=1, max_requests=1000, max_bytes=1000)
    assert refused.value.headers["Retry-After"] == "31"


def test_a_budget_known_spent_is_refused_without_a_write(table: Counted) -> None:
    limiter = RateLimiter(table=table, clock=lambda: 630.0)
    limiter.check("key#k", max_requests=1, max_bytes=1000)  # nothing known yet: not refused
    assert table.writes == {}
    limiter.charge("key#k", body_bytes=1, max_requests=1, max_bytes=1000)
    with pytest.raises(TooManyRequestsError):
        limiter.charge("key#k", body_bytes=1, max_requests=1, max_bytes=1000)
    writes = sum(table.writes.values())
    with pytest.raises(TooManyRequestsError) as refused:
        limiter.check("key#k", max_requests=1, max_bytes=1000)
    assert refused.value.headers["Retry-After"] == "31"
    assert sum(table.writes.values()) == writes


def test_one_recording_and_one_address_are_limited_in_memory() -> None:
    now = [0.0]
    visitors = VisitorLimits(recording_per_minute=120, client_per_minute=600, clock=lambda: now[0])
    r1 = ("owner-a", "r1")
    for _ in range(120):
        visitors.charge(recording=r1, client="198.51.100.7")
    with pytest.raises(TooManyRequestsError) as refused:
        visitors.charge(recording=r1, client="198.51.100.7")
    assert refused.value.headers["Retry-After"] == "1"  # two tokens a second come back
    assert "recording" in str(refused.value)
    # Another recording from the same address is not held back by the first one ...
    visitors.charge(recording=("owner-a", "r2"), client="198.51.100.7")
    # ... and a refused request takes no token from either bucket.
    now[0] += 0.5
    visitors.charge(recording=r1, client="198.51.100.7")
    granted = 0
    for n in range(1000):
        try:
            visitors.charge(recording=("owner-a", f"page-{n}"), client="198.51.100.7")
        except TooManyRequestsError as error:
            assert "client" in str(error)  # noqa: PT017 (the refusal ends the loop)
            break
        granted += 1
    # What was left of the address's 600 after 122 requests, plus half a second's refill.
    assert granted == 600 - 122 + 5
    visitors.charge(recording=("owner-a", "fresh"), client="203.0.113.9")
    now[0] += WINDOW_S
    visitors.charge(recording=r1, client="198.51.100.7")


def test_a_recording_is_its_owners_another_owners_recording_of_the_same_id_is_another_bucket() -> None:
    visitors = VisitorLimits(recording_per_minute=3, client_per_minute=100, clock=lambda: 0.0)
    for _ in range(3):
        visitors.charge(recording=("intruder", "shared-id"))
    with pytest.raises(TooManyRequestsError):
        visitors.charge(recording=("intruder", "shared-id"))
    visitors.charge(recording=("victim", "shared-id"))


def test_an_address_is_charged_the_bytes_it_sends() -> None:
    now = [0.0]
    mib = 1024 * 1024
    visitors = VisitorLimits(
        recording_per_minute=100, client_per_minute=100, client_bytes_per_minute=16 * mib, clock=lambda: now[0]
    )
    for _ in range(3):
        visitors.charge(client="198.51.100.7", body_bytes=5 * mib)
    with pytest.raises(TooManyRequestsError) as refused:
        visitors.charge(client="198.51.100.7", body_bytes=5 * mib)
    assert "bytes from one client address" in str(refused.value)
    # 4 MiB are missing; 16 MiB come back a minute.
    assert refused.value.headers["Retry-After"] == "15"
    # A refusal took nothing: a small body still fits, and another address is untouched.
    visitors.charge(client="198.51.100.7", body_bytes=mib)
    visitors.charge(client="203.0.113.9", body_bytes=10 * mib)
    # A body larger than the whole bucket needs a full bucket, not a bucket that never fills.
    now[0] += WINDOW_S
    visitors.charge(client="198.51.100.7", body_bytes=100 * mib)
    with pytest.raises(TooManyRequestsError):
        visitors.charge(client="198.51.100.7", body_bytes=1)


def test_a_flood_of_addresses_cannot_grow_an_instances_memory() -> None:
    visitors = VisitorLimits(
        recording_per_minute=1, client_per_minute=1, client_bytes_per_minute=10, clock=lambda: 0.0, tracked=100
    )
    for n in range(1000):
        visitors.charge(client=f"10.0.{n // 256}.{n % 256}", body_bytes=5)
    assert visitors.buckets_held <= 100


def test_a_request_may_weigh_several_and_bytes_may_come_alone(table: Counted) -> None:
    now = [1_000_040.0]
    limiter = RateLimiter(table=table, clock=lambda: now[0])
    budget = {"max_requests": 40, "max_bytes": 10_000}
    limiter.charge("key#w", requests=30, body_bytes=0, **budget)
    limiter.charge("key#w", requests=0, body_bytes=5_000, **budget)  # bytes alone: no request
    limiter.charge("key#w", requests=30, body_bytes=0, **budget)  # crosses the line: counted
    with pytest.raises(TooManyRequestsError):
        limiter.charge("key#w", requests=30, body_bytes=0, **budget)
    # The counter holds both weights, and the byte-only charge's slice of one request.
    counter = f"rate#key#w#{int(now[0] // WINDOW_S)}"
    assert table.writes == {counter: 4}  # the refused fourth adds nothing
    assert table._table.get_item(Key={schema.ACCESS_KEY: counter})["Item"]["requests"] == 61
    now[0] += WINDOW_S
    limiter.charge("key#w", requests=40, body_bytes=0, **budget)  # a new window: the whole budget again
