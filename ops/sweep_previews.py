"""``python -m ops.sweep_previews``: destroy the ``pr-<number>`` stacks that outlived their pull request.

The preview workflow destroys a pull request's stack when the pull request closes, but
that destroy can fail (a lock held by a deploy, an AWS error, a revoked role) or never
run (the workflow disabled, the event lost). This sweep, run daily by
``.github/workflows/sweep-previews.yml``, is what makes such a stack temporary anyway.

It lists the project's stacks (``pulumi stack ls --json``), asks GitHub about each
``pr-<number>`` one (``gh pr view <number> --json state``) and destroys and removes
(``pulumi destroy --yes --remove``) every stack whose pull request is closed or merged,
and every stack not updated for ``--max-idle-days`` days (7 by default) even if its pull
request is still open: a preview nobody pushed to for a week costs money for nothing, and
the next push deploys it again. A stack with an update in progress is left for the next
run. A pull request GitHub cannot answer for is left too (reported): a failed lookup is
not a reason to destroy. ``dev``, ``prod`` and any other stack are never touched.

It prints one JSON object (what it destroyed, kept and failed on) and exits 1 when any
lookup or destroy failed, so the scheduled run shows red.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

PREVIEW_STACK = re.compile(r"(?:.*/)?pr-(\d+)")
DEFAULT_MAX_IDLE_DAYS = 7

Runner = Callable[[Sequence[str]], subprocess.CompletedProcess[str]]


@dataclass(frozen=True)
class Stack:
    """One line of ``pulumi stack ls --json``, as far as the sweep reads it."""

    name: str
    last_update: dt.datetime | None
    update_in_progress: bool

    @property
    def pull_request(self) -> int | None:
        """The pull request number of a ``pr-<number>`` stack, else None."""
        match = PREVIEW_STACK.fullmatch(self.name)
        return int(match.group(1)) if match else None


def parse_stacks(listing: str) -> list[Stack]:
    """The stacks of ``pulumi stack ls --json``'s output."""
    return [
        Stack(
            name=entry["name"],
            last_update=parse_time(entry.get("lastUpdate")),
            update_in_progress=bool(entry.get("updateInProgress", False)),
        )
        for entry in json.loads(listing or "[]")
    ]


def parse_time(value: object) -> dt.datetime | None:
    """An ISO 8601 time as Pulumi prints it (UTC assumed without an offset); None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def verdict(stack: Stack, state: str, *, now: dt.datetime, max_idle: dt.timedelta) -> str | None:
    """Why ``stack`` goes (its pull request's ``state`` is GitHub's OPEN, CLOSED or MERGED), or None to keep it."""
    if stack.update_in_progress:
        return None
    if state != "OPEN":
        return f"pull request {state.lower()}"
    if stack.last_update is not None and now - stack.last_update > max_idle:
        return f"not updated for more than {max_idle.days} days"
    return None


def run_command(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run a CLI, capturing its output (the default runner)."""
    return subprocess.run(list(argv), capture_output=True, text=True, check=False)  # noqa: S603 (argv, no shell)


def sweep(*, now: dt.datetime, max_idle: dt.timedelta, run: Runner = run_command) -> dict[str, list[dict[str, str]]]:
    """Destroy the stale preview stacks; returns what was destroyed, kept and failed."""
    listed = run(["pulumi", "stack", "ls", "--json"])
    if listed.returncode != 0:
        return {"destroyed": [], "kept": [], "failed": [{"stack": "*", "error": listed.stderr.strip()}]}
    report: dict[str, list[dict[str, str]]] = {"destroyed": [], "kept": [], "failed": []}
    for stack in parse_stacks(listed.stdout):
        number = stack.pull_request
        if number is None:
            continue
        viewed = run(["gh", "pr", "view", str(number), "--json", "state"])
        if viewed.returncode != 0:
            report["failed"].append({"stack": stack.name, "error": f"gh pr view {number}: {viewed.stderr.strip()}"})
            continue
        reason = verdict(stack, json.loads(viewed.stdout)["state"], now=now, max_idle=max_idle)
        if reason is None:
            report["kept"].append({"stack": stack.name})
            continue
        destroyed = run(["pulumi", "destroy", "--stack", stack.name, "--yes", "--remove", "--non-interactive"])
        if destroyed.returncode != 0:
            report["failed"].append({"stack": stack.name, "error": destroyed.stderr.strip()[-2000:]})
        else:
            report["destroyed"].append({"stack": stack.name, "reason": reason})
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, sweep, print the report; 1 when anything failed."""
    parser = argparse.ArgumentParser(
        prog="python -m ops.sweep_previews",
        description="Destroy the pr-<number> stacks that outlived their pull request.",
    )
    parser.add_argument(
        "--max-idle-days",
        type=int,
        default=DEFAULT_MAX_IDLE_DAYS,
        help="destroy a preview stack not updated for this many days even if its pull request is open (default 7)",
    )
    args = parser.parse_args(argv)
    if args.max_idle_days < 1:
        parser.error("--max-idle-days must be at least 1")
    report = sweep(now=dt.datetime.now(dt.UTC), max_idle=dt.timedelta(days=args.max_idle_days))
    print(json.dumps(report, indent=2))
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
