"""``python -m bench.durability``: ingest throughput of the local stack, and what survives a stop or a kill.

A bounded loopback load test against a local stack on free ports: 20 recordings,
4 threads posting small gzip batches. Three phases, under a minute of load in all:

- steady: batches/s and latency of acknowledged posts, acknowledged vs readable;
- SIGTERM mid-load, then a restart on the same data: acknowledged batches lost, 5xx;
- SIGKILL mid-load (moto dies with the stack), then a restart: acknowledged batches lost.

The figures are merged into bench/results.json under ``durability``.
"""

from __future__ import annotations

import json
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from bench.stats import percentile
from tests.integration.load import IngestLoad, check_read_back, create_recordings
from tests.support.accounts import sign_up_and_in
from tests.support.local_stack import LOAD_ENV, start_stack

RESULTS = Path(__file__).resolve().parent / "results.json"
RECORDINGS = 20
THREADS = 4
STEADY_S = 20.0
INTERRUPTED_S = 12.0


def _phase(data_dir: Path, how: str, seconds: float) -> dict[str, Any]:
    stack = start_stack(data_dir, env=LOAD_ENV)
    restarted = None
    try:
        with requests.Session() as http:
            _, owner = sign_up_and_in(stack.api, http)
        recordings = create_recordings(stack.api, owner, RECORDINGS, prefix=how)
        load = IngestLoad(stack.api, owner, recordings, threads=THREADS).start()
        time.sleep(seconds)
        if how == "steady":
            outcome = load.stop()
            reader = stack
        else:
            if how == "sigterm":
                stack.process.send_signal(signal.SIGTERM)
                stack.process.wait(timeout=120)
            else:
                stack.process.kill()
                stack.process.wait(timeout=30)
            outcome = load.stop()
            restarted = reader = start_stack(data_dir, env=LOAD_ENV)
        started = time.monotonic()
        read_back = check_read_back(reader.api, owner, outcome)
        span = max(outcome.last_ack - outcome.first_ack, 1e-9)
        return {
            "load_s": seconds,
            "recordings": RECORDINGS,
            "threads": THREADS,
            "acknowledged": outcome.acked_count,
            "batches_per_s": round(outcome.acked_count / span, 1),
            "latency_ms_p50": round(percentile(outcome.latencies, 0.5) * 1000, 1) if outcome.latencies else None,
            "latency_ms_p99": round(percentile(outcome.latencies, 0.99) * 1000, 1) if outcome.latencies else 0.0,
            "readable_batches": read_back.readable,
            "acknowledged_lost": read_back.lost_count,
            "read_twice": sum(len(seqs) for seqs in read_back.repeated.values()),
            "server_errors_5xx": outcome.server_errors,
            "connection_errors": outcome.connection_errors,
            "read_back_s": round(time.monotonic() - started, 2),
        }
    finally:
        for running in (stack, restarted):
            if running is not None and running.process.poll() is None:
                running.stop()


def run(tmp: Path) -> dict[str, Any]:
    """All three phases; prints and returns the figures."""
    figures = {}
    for how, seconds in (("steady", STEADY_S), ("sigterm", INTERRUPTED_S), ("sigkill", INTERRUPTED_S)):
        (tmp / how).mkdir(parents=True)
        result = _phase(tmp / how / "data", how, seconds)
        figures[how] = result
        print(
            f"durability {how}: {result['acknowledged']} batches acknowledged at {result['batches_per_s']}/s, "
            f"p50 {result['latency_ms_p50']} ms, p99 {result['latency_ms_p99']} ms; "
            f"readable {result['readable_batches']}, acknowledged lost {result['acknowledged_lost']}, "
            f"5xx {result['server_errors_5xx']}",
            flush=True,
        )
    figures["targets_met"] = {
        "sigterm_loses_nothing": figures["sigterm"]["acknowledged_lost"] == 0
        and figures["sigterm"]["server_errors_5xx"] == 0,
        "sigkill_loses_nothing": figures["sigkill"]["acknowledged_lost"] == 0,
    }
    return figures


def main() -> None:
    """Run the phases and merge the figures into bench/results.json."""
    with tempfile.TemporaryDirectory() as tmp:
        figures = run(Path(tmp))
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["durability"] = {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": "python -m bench.durability",
        **figures,
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"targets: {figures['targets_met']}")
    print(f"merged into {RESULTS} under 'durability'")


if __name__ == "__main__":
    main()
