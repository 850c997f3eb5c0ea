"""``python -m bench.scale``: run the simulation and print its figures (the package's docstring says how)."""

from __future__ import annotations

import argparse
import json
import sys

import bench.scale
from bench import results_file
from bench.scale.report import report
from bench.scale.running import run
from bench.scale.settings import DEFAULT_RECORDINGS, DEFAULT_SECONDS
from bench.scale.targets import targets


def main(argv: list[str] | None = None) -> int:
    """Run the simulation, print the figures; exit status 1 on FAIL."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale", description=(bench.scale.__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--recordings", type=int, default=DEFAULT_RECORDINGS, help="concurrent recordings (N)")
    parser.add_argument("--seconds", type=int, default=DEFAULT_SECONDS, help="simulated seconds of recording")
    parser.add_argument(
        "--compact",
        action="store_true",
        help="run compaction once every recording is idle (about 100 s more at N=1,000)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON as well")
    args = parser.parse_args(argv)
    figures = run(args.recordings, args.seconds, compact=args.compact, seed=args.seed)
    print(report(figures))
    # Into bench/results.json's scale section, as each benchmark run alone does (the
    # cost model reads its units per request from there). Its targets are named
    # scale_<target> there already.
    results_file.merge(
        "scale",
        {
            **json.loads(json.dumps(figures, default=str)),
            "targets_met": {k.removeprefix("scale_"): v for k, v in targets(figures).items()},
        },
        command="python -m bench.scale " + " ".join(argv if argv is not None else sys.argv[1:]),
    )
    if args.json:
        print(json.dumps(figures, indent=2, default=str))
    return 0 if figures["verdict"]["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
