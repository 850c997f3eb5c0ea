"""The scale simulation counts and classifies every AWS request, and its limit check flags what it should.

One tiny run (20 recordings, 10 simulated seconds) through the real handlers against
moto in process; the classification and scaling logic on its own with made-up figures.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from bench import scale


@pytest.fixture(scope="module")
def figures() -> dict[str, Any]:
    return scale.run(20, 10)


def test_every_acknowledged_batch_is_readable(figures: dict[str, Any]) -> None:
    acknowledged, readable = figures["acknowledged"], figures["readable"]
    assert acknowledged["batches"] == 20 * 2
    assert readable["batches"] == acknowledged["batches"]
    assert readable["events"] == acknowledged["events"]
    assert readable["recordings_differing"] == 0
    assert figures["acknowledged_equals_readable"]
    assert figures["routes"]["create"]["statuses"] == {"201": 20}


def test_requests_are_counted_by_phase_service_and_operation(figures: dict[str, Any]) -> None:
    requests = figures["requests"]
    assert requests["api"]["kinesis"]["PutRecords"] >= 40
    assert sum(requests["api"]["dynamodb"].values()) >= 40
    assert requests["consumer"]["s3"]["PutObject"] == figures["consumer"]["chunk_objects"] > 0
    assert requests["event_source_mapping"]["kinesis"]["GetRecords"] > 0
    assert sum(requests["reaper"]["dynamodb"].values()) >= figures["consumer"]["chunk_objects"]
    assert figures["requests_total"] == sum(
        count for services in requests.values() for operations in services.values() for count in operations.values()
    )
    per_post = figures["per_post"]["events"]["2xx"]
    assert per_post["requests"] == 20
    assert per_post["aws_calls"] > 0
    assert per_post["calls.kinesis.PutRecords"] == 1


def test_dynamodb_requests_are_classified_by_table_partition_and_item(figures: dict[str, Any]) -> None:
    tables = figures["dynamodb"]["tables"]
    top = figures["dynamodb"]["top"]
    for kind in ("dynamodb_partition_wcu", "dynamodb_item_wcu", "dynamodb_partition_rcu"):
        assert top[kind], kind
        table, partition, *_ = top[kind][0]["key"].split("|")
        assert table in tables
        assert partition
    assert figures["dynamodb"]["largest_item"]["bytes"] > 0


def test_s3_and_kinesis_requests_are_classified_by_prefix_and_shard(figures: dict[str, Any]) -> None:
    rows = {row["limit"]: row for row in figures["limits"]}
    recording_prefix = rows["s3_recording_prefix_writes"]["key"]
    assert re.fullmatch(r"recordings/owner=[^/]+/recording=[A-Za-z0-9_-]{22}/", recording_prefix)
    assert re.fullmatch(r"recordings/owner=[^/]+/", rows["s3_owner_prefix_writes"]["key"])
    assert figures["s3"]["recording_prefixes"] == 20
    assert figures["s3"]["owner_prefixes"] == 1
    shards = figures["kinesis"]["per_shard"]
    assert set(shards) <= set(figures["kinesis"]["shards"])
    # steady state's records (weighted): a batch a recording every 5 s, 20 recordings over 10 s
    assert sum(shard["records"] for shard in shards.values()) >= 39.9


def test_the_figures_are_json_and_count_per_acknowledged_batch(figures: dict[str, Any]) -> None:
    assert json.loads(json.dumps(figures)) == figures
    per_batch = figures["per_acknowledged_batch"]
    assert per_batch["kinesis.PutRecords"] == 1
    assert per_batch["s3.PutObject"] == 1  # one chunk object per recording per invocation: a batch each here


def test_refused_batches_are_retried_after_retry_after_until_acknowledged(monkeypatch: pytest.MonkeyPatch) -> None:
    # A budget of 15 requests a minute for the key: most of the 20 POSTs wait for the next window.
    monkeypatch.setenv("RRWEB_LIMIT_KEY_REQUESTS", "15")
    refused = scale.run(10, 10)
    assert sum(route["429"] for route in refused["routes"].values()) > 0
    assert refused["simulated_ingest_seconds"] > 60
    assert refused["acknowledged"]["batches"] == 20
    assert refused["acknowledged_equals_readable"]


def test_every_limit_has_a_row_a_source_and_a_remedy(figures: dict[str, Any]) -> None:
    assert {row["limit"] for row in figures["limits"]} == set(scale.LIMITS) == set(scale.REMEDIES)
    for row in figures["limits"]:
        assert row["source"].startswith("https://docs.aws.amazon.com/")
        if not row["config"]:  # a configured row is judged at the config each scale needs
            assert row["percent_at_10000"] >= row["percent_at_n"] * 0.999
    assert isinstance(figures["verdict"]["pass"], bool)


def test_per_shard_rows_are_judged_at_the_shards_each_scale_needs_and_owner_prefixes_are_advisory(
    figures: dict[str, Any],
) -> None:
    rows = {row["limit"]: row for row in figures["limits"]}
    needed = figures["kinesis"]["shards_needed_under_50_percent"]
    for name in scale.CONFIGURED:
        row = rows[name]
        assert row["kind"] == "config"
        assert not row["counts"]
        assert row["config"] == "kinesisShards: " + " / ".join(str(needed[k]) for k in ("20", "10000", "100000"))
        assert row["percent_at_10000"] < 50
        # Prod starts at the default's one shard (raised with traffic, docs/scaling.md).
        assert set(row["alternatives"]) == {"stack default (1 shard)"}
    for name in scale.ADVISORY:
        assert rows[name]["kind"] == "advisory"
        assert not rows[name]["counts"]
    for name in scale.QUOTAS:
        assert rows[name]["kind"] == "quota"
        assert rows[name]["counts"]
    assert rows["kinesis_account_shards"]["at_10000"] == needed["10000"]
    # Lambda concurrency is judged with the cost model's AWS handler times, moto's printed beside.
    assert "moto" in rows["lambda_concurrency"]["note"]
    assert rows["lambda_concurrency"]["at_10000"] > figures["config_to_set"]["10000"]["api_requests_per_s"] * 0.05


def test_starts_are_scaled_to_five_minute_sessions(figures: dict[str, Any]) -> None:
    steady = figures["steady_state"]
    assert steady["recording_seconds"] == 300
    assert steady["starts_per_s"] == pytest.approx(20 / 300)
    assert steady["weights"]["start"] == pytest.approx(figures["simulated_ingest_seconds"] / 300, rel=1e-3)
    assert figures["screenshots"] == 20
    rows = {row["limit"]: row for row in figures["limits"]}
    # byOwner takes one entry per start: N / 300 a second, not N / 10.
    assert rows["dynamodb_gsi_partition_wcu"]["at_10000"] == pytest.approx(10_000 / 300, rel=0.05)


def test_per_request_counts_are_what_the_cost_model_reads(figures: dict[str, Any]) -> None:
    per = figures["per_request"]
    assert set(per) == {"create", "events", "consumer_chunk_object", "reaper_invocation"}
    events, create = per["events"], per["create"]
    assert events["kinesis_put_records_calls"] == 1
    assert events["rcu_consistent"] == 1  # one consistent GetItem: the recording
    assert events["wcu"] == pytest.approx(0, abs=0.06)  # rate-budget leases only
    assert events["index_wcu"] == 0
    assert create["index_wcu"] == 1  # the byOwner entry
    chunk = per["consumer_chunk_object"]
    assert chunk["s3_put"] == 1
    assert chunk["wcu"] == 1
    assert chunk["rcu"] == 1
    assert chunk["index_wcu_once_per_recording"] == 1
    assert chunk["index_wcu"] == 0
    assert per["reaper_invocation"]["rcu"] == 1
    writes = figures["writes_per_post"]
    assert writes["events_post_recordings_table"] == 0
    assert writes["events_post"] == pytest.approx(
        writes["events_post_recordings_table"] + writes["events_post_rate_leases"]
    )


def test_a_rate_above_a_limit_fails_the_verdict_and_names_what_to_change() -> None:
    limit = scale.LIMITS["kinesis_shard_records_in"].value
    rows = scale.limit_rows(
        {
            "kinesis_shard_records_in": scale.Measure(at_n=limit / 20, scaled=(limit * 1.5, limit * 15)),
            "ingest_requests": scale.Measure(at_n=10, scaled=(100, 1000)),
        }
    )
    crossed = rows[0]
    assert crossed["crossed_at_10000"]
    assert crossed["crossed_at_100000"]
    assert crossed["remedy_at_100000"] == scale.REMEDIES["kinesis_shard_records_in"]
    assert not rows[1]["crossed_at_10000"]
    outcome = scale.verdict(rows, acknowledged=5, readable=5, exact=True)
    assert not outcome["pass"]
    assert outcome["highest_limit_at_10k"] == "kinesis_shard_records_in"
    assert not outcome["under_50_percent_at_10k"]
    assert [entry["limit"] for entry in outcome["crossed_at_100k"]] == ["kinesis_shard_records_in"]
    # Named config (the shards to set) or an advisory row: printed, never the verdict.
    configured = scale.limit_rows(
        {
            "kinesis_shard_records_in": scale.Measure(
                at_n=1, scaled=(limit * 1.5, limit * 15), config="kinesisShards: 1 / 3 / 30"
            ),
            "s3_owner_prefix_writes": scale.Measure(at_n=1, scaled=(10_000, 100_000)),
        }
    )
    assert scale.verdict(configured, acknowledged=5, readable=5, exact=True)["pass"]
    assert scale.verdict(configured, acknowledged=5, readable=5, exact=True)["advisory_crossed_at_10k"] == [
        "s3_owner_prefix_writes"
    ]
    fine = scale.limit_rows({"ingest_requests": scale.Measure(at_n=10, scaled=(100, 1000))})
    assert scale.verdict(fine, acknowledged=5, readable=5, exact=True)["pass"]
    assert not scale.verdict(fine, acknowledged=5, readable=4, exact=True)["pass"]


def test_shared_keys_scale_with_recordings_and_a_recordings_own_keys_do_not() -> None:
    belongs = scale.recording_token_matcher(["AAAAAAAAAAAAAAAAAAAAAA"])
    shared, own = scale.Track(), scale.Track()
    for second in range(10):
        shared.add(second, 10)
        own.add(second, 30)
    tracks: dict[tuple[str, ...], scale.Track] = {
        ("table", "owner-1"): shared,
        ("table", "rec#owner-1#AAAAAAAAAAAAAAAAAAAAAA"): own,
    }
    measure = scale.scale_keys(tracks, duration=10, factors=(10.0, 100.0), per_recording=belongs)
    assert measure.at_n == 30  # the recording's own key is the busier one at N...
    assert measure.scaled == (100.0, 1000.0)  # ...the shared one, times the scale, past it
    assert measure.key == "table|owner-1"
    assert "rec#owner-1#" in measure.note
    assert measure.peak_at_n == 30
    assert belongs(("recordings/owner=o/recording=AAAAAAAAAAAAAAAAAAAAAA/",))
    assert not belongs(("rate#key#0123456789abcdef#29000000",))


def test_write_units_follow_the_larger_item_and_updates_are_applied_to_the_item_size() -> None:
    assert scale.write_units(100, 900) == 1
    assert scale.write_units(3000, 100) == 3
    assert scale.write_units(100, 100, transactional=True) == 2
    assert scale.read_units(5000, consistent=True) == 2
    assert scale.read_units(100, consistent=False) == 0.5
    shadow = scale.Shadow.of({"pk": "rec#o#r", "batchCount": 1, "seqs": {1, 2}}, {"pk", "updatedAt"})
    touched = scale.apply_update(
        shadow,
        "SET updatedAt = :now, #t = if_not_exists(#t, :title) ADD batchCount :one, seqs :seq REMOVE gone",
        {"#t": "title"},
        {":now": 1_700_000_000_000, ":title": "x" * 50, ":one": 1, ":seq": {3}},
        {"pk", "updatedAt"},
    )
    assert touched == {"updatedAt", "title", "batchCount", "seqs", "gone"}
    assert shadow.sizes["title"] == 50
    assert shadow.values["updatedAt"] == "1700000000000"
    assert shadow.sizes["seqs"] == 3 * scale.value_size(1)
    assert scale.value_size({"S": "abc"}) == scale.value_size("abc") == 3
    assert scale.value_size({"M": {"a": {"N": "12"}}}) == scale.value_size({"a": 12})


def test_the_virtual_clock_moves_only_the_apps_modules() -> None:
    import sys
    import time

    from chalicelib import ids

    clock = scale.VirtualClock()
    real = time.time()
    clock.set(3600)
    with clock.installed():
        assert abs(ids.now_ms() / 1000 - (real + 3600)) < 120
        # Nothing in the app still holds the real clock as a default argument.
        for name, module in list(sys.modules.items()):
            if name.split(".")[0] == "chalicelib":
                for value in vars(module).values():
                    for function in scale.functions_of(value):
                        held = [*(function.__defaults__ or ()), *(function.__kwdefaults__ or {}).values()]
                        assert not any(d is time.time or d is time.monotonic for d in held), function
        assert abs(time.time() - real) < 60  # everyone else keeps the real clock
    assert abs(ids.now_ms() / 1000 - real) < 60
