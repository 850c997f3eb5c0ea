"""bench.scale's targets, judged on a run's figures (``python -m bench`` and ``python -m bench.scale`` both)."""

from __future__ import annotations

from chalicelib import limits as limits_module


def targets(figures: dict) -> dict[str, bool]:
    """bench.scale's targets: integrity, the AWS limits at 10,000, and no write per events POST.

    An events POST writes nothing to the recordings table; a rate budget's lease (a 1%
    slice, so one write per hundredth of a budget) is spread over the POSTs it serves: at
    most 1 / 100 of a write per POST.
    """
    verdict = figures["verdict"]
    events = figures["per_request"]["events"]
    return {
        "scale_acknowledged_all_readable": bool(figures["acknowledged_equals_readable"]),
        "scale_no_limit_crossed_at_10k": not any(
            row["counts"] and row["crossed_at_10000"] for row in figures["limits"]
        ),
        "scale_highest_under_50pct_at_10k": bool(verdict["under_50_percent_at_10k"]),
        # An events POST writes nothing to the recordings table: only rate-budget leases.
        "scale_api_writes_per_events_post_only_leases": events["dynamodb_writes"] <= 1 / limits_module.LEASES_PER_WINDOW
        and figures["writes_per_post"]["events_post_recordings_table"] == 0,
    }
