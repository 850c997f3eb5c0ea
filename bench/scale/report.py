"""The figures as text."""

from __future__ import annotations

from typing import Any

from bench.scale.settings import MIB, PROD, STACK_DEFAULTS


def _number(value: float, unit: str = "") -> str:
    if unit == "bytes" or unit == "bytes/s":
        for scale, suffix in ((1024**3, " GiB"), (MIB, " MiB"), (1024, " KiB")):
            if abs(value) >= scale:
                return f"{value / scale:,.1f}{suffix}"
        return f"{value:,.0f} B"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def _peak(value: float | None, unit: str) -> str:
    return "-" if value is None else _number(value, unit)


def _summary(per: dict[str, float]) -> str:
    """One line of per-request figures: calls by operation, DynamoDB writes, reads, units."""
    operations = ", ".join(
        f"{name[6:]} {value:.3g}" for name, value in per.items() if name.startswith("calls.") and name.count(".") == 2
    )
    return (
        f"AWS calls {per.get('aws_calls', 0):.2f} ({operations}); DynamoDB writes {per.get('dynamodb.writes', 0):.2f}"
        f" ({per.get('dynamodb.wcu', 0):.2f} WCU + {per.get('dynamodb.index_wcu', 0):.2f} index),"
        f" reads consistent {per.get('dynamodb.reads.consistent', 0):.2f} / eventual"
        f" {per.get('dynamodb.reads.eventual', 0):.2f} ({per.get('dynamodb.rcu', 0):.2f} RCU)"
    )


def report(figures: dict[str, Any]) -> str:
    """The figures as text: routes, integrity, per-POST counts, the limit table and the verdict."""
    config = figures["config"]
    steady = figures["steady_state"]
    lines = [
        f"{config['recordings']:,} recordings x {config['batches_per_recording']} batches "
        f"({config['seconds']} s simulated, a batch every {config['batch_seconds']} s), "
        f"{config['shards']} shard(s) simulated; simulated ingest {figures['simulated_ingest_seconds']:.0f} s; "
        f"wall {figures['wall_seconds']['total']:.0f} s ("
        + ", ".join(f"{name} {value:.0f} s" for name, value in figures["wall_seconds"].items() if name != "total")
        + ")",
        "",
        f"steady state: a recording is a {steady['recording_seconds'] // 60:.0f}-minute session"
        f" (bench.cost.RECORDING_MINUTES), so N / {steady['recording_seconds']} = {steady['starts_per_s']:,.2f}"
        f" recordings start each second at N, while N / {config['batch_seconds']} = {steady['posts_per_s']:,.0f}"
        " batches are posted. What a start drives (the create's writes and first batch, an index entry's first"
        f" write, the screenshot and its reaper call) is scaled to N / {steady['recording_seconds']} starts a"
        f" second, not to the run's N / {config['seconds']}; events POSTs fill the other batches"
        f" (weights {steady['weights']}).",
        "rates are per second in that steady state; scaled linearly in N for what recordings share, flat for a"
        " recording's own; 'peak 1 s' is the run's busiest second, weighted the same way.",
        "",
        "routes:",
    ]
    for route, stats in figures["routes"].items():
        lines.append(
            f"  {route:7} {stats['requests']:>7,} requests  statuses {stats['statuses']}  "
            f"429: {stats['429']:,}  non-2xx: {stats['non_2xx']:,}  mean handler {stats['mean_handler_ms']:.1f} ms"
        )
    ack, read = figures["acknowledged"], figures["readable"]
    writes = figures["writes_per_post"]
    lines += [
        f"  screenshots uploaded (browser to S3): {figures['screenshots']:,}",
        "",
        f"acknowledged {ack['batches']:,} batches ({ack['events']:,} events); readable {read['batches']:,} "
        f"({read['events']:,} events); recordings differing: {read['recordings_differing']}; "
        f"never acknowledged: {figures['never_acknowledged']}",
        "",
        "per request (route, outcome, requests): AWS calls by operation, DynamoDB writes and reads:",
    ]
    for route, outcomes in figures["per_post"].items():
        for outcome_name, per in outcomes.items():
            lines.append(f"  {route} {outcome_name} x{per['requests']:,}: {_summary(per)}")
    consumer, reaper, compaction = figures["consumer"], figures["reaper"], figures["compaction"]
    chunk = figures["per_request"]["consumer_chunk_object"]
    lines += [
        f"  consumer: {consumer['invocations']:,} invocations, {consumer['records']:,} records, "
        f"{consumer['chunk_objects']:,} chunk objects; per object: {_summary(consumer['per_chunk_object'])}"
        + (
            f"; of the index WCU, {chunk.get('index_wcu_once_per_recording', 0):.2f} per recording is its entry's"
            f" first write, {chunk.get('index_wcu', 0):.3f} per object the rest"
            if chunk
            else ""
        ),
        f"  reaper: {reaper['invocations']:,} invocations; per invocation: {_summary(reaper['per_invocation'])}",
        f"  API DynamoDB write requests per POST: {writes['all_posts']:.3f} over creates and events;"
        f" {writes['events_post']:.3f} per events POST"
        f" ({writes['events_post_recordings_table']:.3f} the recordings table,"
        f" {writes['events_post_rate_leases']:.3f} rate-budget leases)",
    ]
    if compaction["runs"]:
        lines.append(
            f"  compaction: {compaction['outcomes']}; per recording: {_summary(compaction['per_recording_compacted'])}"
        )
    lines.append("")
    header = (
        f"{'limit':46} {'documented':>12} {'at N':>12} {'peak 1 s':>12} {'at 10k':>12} {'at 100k':>12}"
        f" {'% at N':>8} {'% at 10k':>9} {'% at 100k':>10}  judged"
    )
    lines += [header, "-" * len(header)]
    for row in figures["limits"]:
        unit = row["unit"]
        line = (
            f"{row['label'][:46]:46} {_number(row['documented'], unit):>12} {_number(row['at_n'], unit):>12} "
            f"{_peak(row['peak_second_at_n'], unit):>12} {_number(row['at_10000'], unit):>12} "
            f"{_number(row['at_100000'], unit):>12} {row['percent_at_n']:>7.1f}% {row['percent_at_10000']:>8.1f}%"
            f" {row['percent_at_100000']:>9.1f}%  {row['kind']}"
        )
        if row.get("crossed_at_100000"):
            line += f"  <- at 100k: {row['remedy_at_100000']}"
        lines.append(line)
        if row["config"]:
            lines.append(f"{'':6}at the config to set: {row['config']} (at N, 10k, 100k)")
        for label, percents in row["alternatives"].items():
            lines.append(f"{'':6}with {label}: " + " / ".join(f"{p:,.1f}%" for p in percents) + " (at N, 10k, 100k)")
    lines += [
        "",
        "judged: fixed = AWS's own ceiling, counts for the verdict; quota = an account quota, counts at 10k"
        " (at 100k: the quota to raise); config = at the stack config printed beside it, which the deployment"
        " sets, so it never fails the verdict; advisory = printed only.",
        "S3: the verdict uses the per-recording prefix. Every object of a recording sits under its own prefix"
        " (recordings/owner=<o>/recording=<r>/) and S3's limit is per partitioned prefix. The owner prefix is"
        " the sum over all its recordings: advisory, because S3 partitions a busy prefix by the keys below it,"
        " answering 503 SlowDown while it does, and the consumer's PUT is retried by Lambda.",
        "",
        "config to set (each under 50% of its limit):",
    ]
    for count, entry in figures["config_to_set"].items():
        lines.append(
            f"  {int(count):>7,} recordings: kinesisShards: {entry['kinesisShards']} (consumer concurrency"
            f" {entry['consumer_concurrency']}); {entry['api_requests_per_s']:,} ingest requests/s, so"
            f" ingestConcurrency >= {entry['ingestConcurrency_at_least']:,} (stack default"
            f" {STACK_DEFAULTS.ingest_concurrency:,}, none reserved; prod {PROD.ingest_concurrency:,}) and, with one"
            f" ingest key, keyRequestsPerMinute >= {entry['keyRequestsPerMinute_at_least']:,}"
            f" (default {STACK_DEFAULTS.key_requests_per_minute:,})"
        )
    lines += ["", "where (the key each figure was measured on):"]
    for row in figures["limits"]:
        if row["key"] or row["note"]:
            where = "; ".join(part for part in (row["key"], row["note"]) if part)
            lines.append(f"  {row['label']}: {where}")
    outcome = figures["verdict"]
    lines += [
        "",
        f"verdict: {'PASS' if outcome['pass'] else 'FAIL'}"
        + (f" ({'; '.join(outcome['failures'])})" if outcome["failures"] else "")
        + f"; acknowledged == readable: {figures['acknowledged_equals_readable']}; highest percent at 10k over the"
        f" rows that count: {outcome['highest_percent_at_10k']:.1f}% ({outcome['highest_limit_at_10k']}), under 50%:"
        f" {outcome['under_50_percent_at_10k']}"
        + (
            f"; advisory rows crossed at 10k: {', '.join(outcome['advisory_crossed_at_10k'])}"
            if outcome["advisory_crossed_at_10k"]
            else ""
        ),
    ]
    if outcome["crossed_at_100k"]:
        lines.append(
            "at 100k: "
            + "; ".join(
                f"{entry['limit']} {entry['percent']:.0f}%: {entry['change']}" for entry in outcome["crossed_at_100k"]
            )
        )
    return "\n".join(lines)
