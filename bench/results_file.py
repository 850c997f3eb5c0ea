"""bench/results.json: what ``python -m bench`` writes whole, and one benchmark run alone merges into."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results.json"


def merge(name: str, figures: dict[str, Any], *, command: str) -> None:
    """Write one benchmark's figures (run alone) under ``name``, and its targets as ``<name>_<target>``.

    Its ratios come from its own run; ``generated`` says when that was, which may differ
    from the rest of the file (``python -m bench`` rewrites everything at once).
    """
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[name] = {"generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "command": command, **figures}
    # This benchmark's targets as this run judged them, none left from an earlier run.
    targets = {key: met for key, met in results.get("targets_met", {}).items() if not key.startswith(f"{name}_")}
    targets.update({f"{name}_{target}": met for target, met in figures["targets_met"].items()})
    results["targets_met"] = targets
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"targets: {figures['targets_met']}")
    print(f"merged into {RESULTS} under {name!r}")
