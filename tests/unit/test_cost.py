"""docs/cost.md's cost tables are what the cost model prints, and the model follows the stack's shape."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from bench.cost import (
    FIRST_FLUSH_SECONDS,
    FLUSH_SECONDS,
    MINUTES,
    RECORDING_MINUTES,
    SECONDS_PER_MONTH,
    PerMinute,
    apigw_dollars,
    compacted_storage,
    monthly,
    per_minute,
    shape_table,
    shapes,
    shards_needed,
    stack_settings,
    storage_table,
    table,
    throttle_cap,
    traffic,
    units,
    unwatched_window,
    window_table,
)

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def volume() -> PerMinute:
    return per_minute()


def test_cost_page_shows_the_current_cost_table() -> None:
    page = (ROOT / "docs" / "cost.md").read_text()
    assert table("prod") in page


def test_readme_puts_our_bill_beside_hosted_replay_at_the_same_volumes() -> None:
    from bench.cost import comparison_table, posthog_dollars

    assert comparison_table("prod") in (ROOT / "README.md").read_text()
    # PostHog's tiers: 5,000 free, then 10,000 at $0.005 and 5,000 at $0.0035.
    assert posthog_dollars(5_000) == 0
    assert posthog_dollars(20_000) == pytest.approx(67.50)


def test_cost_page_and_architecture_show_the_current_storage_class_comparison() -> None:
    compared = storage_table("prod")
    assert compared in (ROOT / "docs" / "cost.md").read_text()
    assert compared in (ROOT / "docs" / "architecture.md").read_text()


def test_glacier_ir_cuts_storage_until_archived_replays_pass_the_break_even(volume: PerMinute) -> None:
    prod = stack_settings("prod")
    assert prod.glacier_after_days == 30
    standard = dataclasses.replace(prod, glacier_after_days=0)
    kept = compacted_storage(MINUTES[-1], standard, volume)
    moved = compacted_storage(MINUTES[-1], prod, volume)
    assert kept["transitions"] == kept["retrievals"] == 0
    # A sixth of the price for 335 of 365 days, plus a transition per recording.
    assert moved["storage"] < kept["storage"] / 2
    assert moved["transitions"] == pytest.approx(MINUTES[-1] / RECORDING_MINUTES * 0.02 / 1000)
    assert sum(moved.values()) < kept["storage"]
    # Every archived recording replayed once a month: Glacier IR costs more than Standard.
    archived = MINUTES[-1] / RECORDING_MINUTES * (prod.retention_days - 30) / 30
    assert sum(compacted_storage(MINUTES[-1], prod, volume, archived).values()) > kept["storage"]
    # The model's storage line is the chosen class's.
    assert monthly(MINUTES[-1], prod, volume)["S3 storage"] < monthly(MINUTES[-1], standard, volume)["S3 storage"]


def test_the_model_prices_the_shards_the_traffic_needs_never_fewer_than_configured(volume: PerMinute) -> None:
    prod = stack_settings("prod")
    assert prod.kinesis_shards == 1
    assert shards_needed(MINUTES[0], prod, volume) == 1
    assert shards_needed(MINUTES[-1], prod, volume) >= 2
    more = dataclasses.replace(prod, kinesis_shards=5)
    assert shards_needed(MINUTES[0], more, volume) == 5
    # An idle stack costs at most $15 a month.
    assert sum(monthly(MINUTES[0], prod, volume).values()) <= 15


def test_cost_page_and_architecture_show_the_current_shape_comparison() -> None:
    for compared in (shape_table("prod"), window_table("prod")):
        assert compared in (ROOT / "docs" / "cost.md").read_text()
        assert compared in (ROOT / "docs" / "architecture.md").read_text()


def test_the_model_flushes_as_the_recorder_does(volume: PerMinute) -> None:
    recorder = (ROOT / "site" / "src" / "recorder.js").read_text()
    (default,) = set(re.findall(r"flushIntervalMs: (\d+),", recorder))
    assert int(default) == FLUSH_SECONDS * 1000
    (first,) = set(re.findall(r"firstFlushMs: (\d+),", recorder))
    assert int(first) == FIRST_FLUSH_SECONDS * 1000
    assert round(volume.posts) == 60 // FLUSH_SECONDS


def test_cost_grows_with_use_and_per_minute_cost_falls(volume: PerMinute) -> None:
    settings = stack_settings("prod")
    totals = [sum(monthly(m, settings, volume).values()) for m in MINUTES]
    assert totals == sorted(totals)
    assert totals[0] / MINUTES[0] > totals[-1] / MINUTES[-1]


def test_on_demand_kinesis_has_a_higher_floor_than_one_shard(volume: PerMinute) -> None:
    provisioned = stack_settings("dev")
    on_demand = dataclasses.replace(provisioned, kinesis_mode="on-demand")
    assert monthly(1000, on_demand, volume)["Kinesis"] > monthly(1000, provisioned, volume)["Kinesis"]


def test_the_consumer_writes_one_object_per_batch_while_the_window_is_shorter_than_the_flush(
    volume: PerMinute,
) -> None:
    settings = stack_settings("dev")
    assert settings.consumer_unwatched_window_seconds < FLUSH_SECONDS
    busy = traffic(MINUTES[-1], settings, volume)
    assert busy.chunk_puts == pytest.approx(busy.posts)
    # A window three flushes long gathers three batches of a recording into one object...
    long_window = dataclasses.replace(
        settings, consumer_unwatched_window_seconds=3 * FLUSH_SECONDS, consumer_unwatched_parallelization=10
    )
    assert traffic(MINUTES[-1], long_window, volume).chunk_puts == pytest.approx(busy.posts / 3)
    # ...prod's 90 s nine, while its ten batches per shard stay under Lambda's 6 MB event.
    prod = stack_settings("prod")
    assert unwatched_window(MINUTES[-1], prod, volume) == prod.consumer_unwatched_window_seconds == 90
    assert traffic(MINUTES[-1], prod, volume).chunk_puts == pytest.approx(busy.posts / 9)
    # With one batch per shard the 6 MB event closes the window early at volume: more objects.
    serial = dataclasses.replace(prod, consumer_unwatched_parallelization=1)
    assert unwatched_window(MINUTES[-1], serial, volume) < 90
    assert traffic(MINUTES[-1], serial, volume).chunk_puts > 2 * busy.posts / 9
    assert unwatched_window(MINUTES[0], serial, volume) == 90


def test_consumer_invocations_are_bounded_by_batches_and_by_shards_per_window(volume: PerMinute) -> None:
    settings = stack_settings("prod")
    slots = shards_needed(MINUTES[-1], settings, volume) * settings.consumer_unwatched_parallelization
    ceiling = slots * SECONDS_PER_MONTH / unwatched_window(MINUTES[-1], settings, volume)
    quiet, busy = traffic(MINUTES[0], settings, volume), traffic(MINUTES[-1], settings, volume)
    # A quiet stack invokes once per batch... or fewer: one per window of each recording.
    assert quiet.invocations <= quiet.chunk_puts
    # A busy one once per window per shard and slot.
    assert busy.invocations <= ceiling
    assert busy.invocations > 0.95 * ceiling
    assert busy.invocations < busy.chunk_puts / 5
    # More shards, more invocations (and no more objects).
    doubled = dataclasses.replace(settings, kinesis_shards=2 * shards_needed(MINUTES[-1], settings, volume))
    assert traffic(MINUTES[-1], doubled, volume).invocations > busy.invocations
    assert traffic(MINUTES[-1], doubled, volume).chunk_puts == busy.chunk_puts


def test_longer_archive_retention_costs_more_storage_and_nothing_else(volume: PerMinute) -> None:
    settings = stack_settings("prod")
    longer = dataclasses.replace(settings, archive_retention_days=settings.archive_retention_days + 7)
    base, more = monthly(MINUTES[-1], settings, volume), monthly(MINUTES[-1], longer, volume)
    assert more["S3 storage"] > base["S3 storage"]
    assert {k: v for k, v in more.items() if k != "S3 storage"} == {k: v for k, v in base.items() if k != "S3 storage"}


def test_shared_objects_pay_off_only_once_invocations_stop_growing_with_batches(volume: PerMinute) -> None:
    settings = stack_settings("prod")
    differences = []
    for minutes in MINUTES:
        compared = shapes(minutes, settings, volume)
        differences.append(sum(compared["per recording"].values()) - sum(compared["shared"].values()))
    # Per batch the two differ only by the reaper against the index write: cents at most
    # while every batch is an invocation; past that, shared objects save most S3 PUTs.
    assert abs(differences[0]) < 0.05
    assert differences[-1] > 100 * max(differences[0], 0.01)


def test_dynamodb_units_are_the_ones_the_scale_simulation_counted() -> None:
    results = json.loads((ROOT / "bench" / "results.json").read_text())
    per_request = results["scale"]["per_request"]
    measured = units()
    events = per_request["events"]
    assert measured.events_wru == events["wcu"] + events["index_wcu"]
    assert measured.events_rru == events["rcu"]
    # One constant-size write per events POST (plus its share of rate-budget leases).
    assert measured.events_wru <= 1.01


def test_the_table_prices_sessions_and_what_the_stage_throttle_caps() -> None:
    settings = stack_settings("prod")
    text = table("prod")
    assert f"| per 1,000 {RECORDING_MINUTES}-minute sessions |" in text
    cap = throttle_cap(settings)
    assert cap["requests"] == settings.throttle_rate_limit * SECONDS_PER_MONTH
    assert f"{cap['requests'] / 1e6:,.0f} million requests" in text
    # API Gateway's tiers: the first 333 million at the list price, the rest cheaper.
    assert apigw_dollars(333e6) == pytest.approx(333 * 3.50)
    assert apigw_dollars(1e9) < 1000 * 3.50


def test_each_recording_control_is_priced_as_minutes_never_recorded() -> None:
    from bench.cost import Controls, controls_line

    def prices(controls: Controls) -> list[float]:
        line = controls_line("prod", controls)
        return [float(cell.strip("$").replace(",", "")) for cell in re.findall(r"\$\d[\d,]*\.\d\d", line)]

    everything = prices(Controls())
    for field in ("sample_rate", "url_share", "long_enough", "on_error"):
        fewer = prices(Controls(**{field: 0.2}))
        # At volume the bill follows the minutes recorded: a fifth of them costs far less per visit.
        assert fewer[-1] < everything[-1] * 0.35, (field, fewer, everything)
        assert all(cheaper <= full for cheaper, full in zip(fewer, everything, strict=True)), field
    assert Controls(sample_rate=0.5, on_error=0.5).share == 0.25, "the shares multiply"
    assert prices(Controls(sample_rate=0.5, on_error=0.5)) == prices(Controls(url_share=0.25))
    with pytest.raises(ValueError, match="sample_rate"):
        Controls(sample_rate=0)
    chosen, rest = Controls.parse(["dev", "--sample-rate=0.1", "--on-error=0.5"])
    assert (chosen, rest) == (Controls(sample_rate=0.1, on_error=0.5), ["dev"])


def test_cost_page_shows_the_current_ingest_memory_comparison() -> None:
    from bench.cost import memory_table

    assert memory_table("prod") in (ROOT / "docs" / "cost.md").read_text()


def test_less_memory_stretches_a_posts_cpu_but_bills_fewer_gb_seconds() -> None:
    from bench.cost import ingest_memory_mb, post_seconds, stack_settings

    prod = stack_settings("prod")
    assert ingest_memory_mb(prod) == 512 < prod.lambda_memory_mb
    at = {memory: post_seconds(dataclasses.replace(prod, ingest_memory_mb=memory)) for memory in (256, 512, 1024, 2048)}
    assert at[256] > at[512] > at[1024] > at[2048]
    # Past one vCPU (1,769 MB) more memory buys no CPU: the time stays the AWS waits plus the CPU.
    assert at[2048] == post_seconds(dataclasses.replace(prod, ingest_memory_mb=1769))
    assert at[512] * 512 < at[1024] * 1024
