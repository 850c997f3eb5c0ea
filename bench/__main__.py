"""``python -m bench`` (``make bench``): run every benchmark, write bench/results.json."""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path

from bench import assets, browser, compaction, durability, first_frame, ingest, latency, limits, read, scale
from bench.results_file import RESULTS


def main() -> None:
    """Run the benchmarks, check the targets, write the results."""
    with tempfile.TemporaryDirectory() as tmp:
        ingest_figures = ingest.run(Path(tmp))
    with tempfile.TemporaryDirectory() as tmp:
        browser_figures = browser.run(Path(tmp))
    # Ten visitors of a shop with and without the asset store (about 4 minutes).
    with tempfile.TemporaryDirectory() as tmp:
        asset_figures = assets.run(Path(tmp))
    # A 30-minute, 120,000-event recording clicked in the list, as chunks and compacted (about 6 minutes).
    with tempfile.TemporaryDirectory() as tmp:
        first_frame_figures = first_frame.run(Path(tmp))
    read_figures = read.run()
    compaction_figures = compaction.run()
    with tempfile.TemporaryDirectory() as tmp:
        latency_figures = latency.run(Path(tmp))
    print("worst-case requests (handler's own work):")
    limit_figures = limits.run()
    with tempfile.TemporaryDirectory() as tmp:
        durability_figures = durability.run(Path(tmp))
    # N concurrent recordings through the real handlers, every AWS request counted (about 3 minutes).
    scale_figures = scale.run()
    print(scale.report(scale_figures))
    targets = {
        "ingest_handler_vs_json_loads_max_1_5x": ingest_figures["handler_cost"]["ratio_gzip_body"] <= 1.5,
        **{f"read_{name}": met for name, met in read.read_targets(read_figures).items()},
        **{f"storage_{name}": met for name, met in read.storage_targets(read_figures).items()},
        **{f"compaction_{name}": met for name, met in compaction_figures["targets_met"].items()},
        **{f"live_tail_{name}": met for name, met in latency_figures["targets_met"].items()},
        **{f"browser_{name}": met for name, met in browser_figures.get("targets_met", {}).items()},
        **{f"first_frame_{name}": met for name, met in first_frame_figures["targets_met"].items()},
        **{f"assets_{name}": met for name, met in asset_figures["targets_met"].items()},
        "worst_accepted_request_max_64mb": limit_figures["worst_accepted_peak_mb"] <= 64,
        "worst_refused_request_max_64mb": limit_figures["worst_refused_peak_mb"] <= 64,
        "surrogate_escapes_max_2x_json_loads": limit_figures["worst_surrogates_vs_json_loads"] <= 2,
        "worst_recording_read_or_compaction_max_200mb": limit_figures["worst_recording_peak_mb"] <= 200,
        "load_acknowledged_all_readable": durability_figures["steady"]["acknowledged_lost"] == 0,
        **durability_figures["targets_met"],
        **scale.targets(scale_figures),
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
        "first_frame": first_frame_figures,
        "assets": asset_figures,
        "limits": limit_figures,
        "durability": durability_figures,
        "scale": scale_figures,
        "targets_met": targets,
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"targets: {targets}")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
