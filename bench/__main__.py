"""``python -m bench`` (``make bench``): run every benchmark, write bench/results.json."""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path

from bench import browser, compaction, durability, ingest, latency, limits, read

RESULTS = Path(__file__).resolve().parent / "results.json"


def main() -> None:
    """Run the benchmarks, check the targets, write the results."""
    with tempfile.TemporaryDirectory() as tmp:
        ingest_figures = ingest.run(Path(tmp))
    with tempfile.TemporaryDirectory() as tmp:
        browser_figures = browser.run(Path(tmp))
    read_figures = read.run()
    compaction_figures = compaction.run()
    with tempfile.TemporaryDirectory() as tmp:
        latency_figures = latency.run(Path(tmp))
    print("worst-case requests (handler's own work):")
    limit_figures = limits.run()
    with tempfile.TemporaryDirectory() as tmp:
        durability_figures = durability.run(Path(tmp))
    targets = {
        "ingest_handler_vs_json_loads_max_1_5x": ingest_figures["handler_cost"]["ratio_gzip_body"] <= 1.5,
        "read_speedup_min_3x": read_figures["read"]["speedup_gzip"] >= 3,
        "read_above_6mb_complete": read_figures["read"]["complete"] and read_figures["read"]["events_json_mb"] > 6,
        "storage_min_5x_fewer_bytes": read_figures["storage"]["ratio"] >= 5,
        **{f"compaction_{name}": met for name, met in compaction_figures["targets_met"].items()},
        **{f"live_tail_{name}": met for name, met in latency_figures["targets_met"].items()},
        **{f"browser_{name}": met for name, met in browser_figures.get("targets_met", {}).items()},
        "browser_bytes_min_5x_fewer": (browser_figures["bytes_ratio"] or 0) >= 5,
        "worst_accepted_request_max_64mb": limit_figures["worst_accepted_peak_mb"] <= 64,
        "load_acknowledged_all_readable": durability_figures["steady"]["acknowledged_lost"] == 0,
        **durability_figures["targets_met"],
    }
    results = {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": "make bench",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "ingest": ingest_figures,
        **read_figures,
        "compaction": compaction_figures,
        "live_tail": latency_figures,
        "browser": browser_figures,
        "limits": limit_figures,
        "durability": durability_figures,
        "targets_met": targets,
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"targets: {targets}")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
