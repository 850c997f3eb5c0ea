"""The preview sweep destroys exactly the pr-<number> stacks that outlived their pull request.

Driven through its command line with stand-ins for the ``pulumi`` and ``gh`` CLIs on the
PATH, which answer from a JSON file and record every call they get.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from ops.sweep_previews import Stack, parse_time, verdict

ROOT = Path(__file__).parents[2]
NOW = dt.datetime.now(dt.UTC)
WEEK = dt.timedelta(days=7)

FAKE = """#!{python}
import json, os, sys
world = json.load(open(os.environ["FAKE_WORLD"]))
with open(os.environ["FAKE_CALLS"], "a") as calls:
    calls.write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + "\\n")
args = sys.argv[1:]
if os.path.basename(sys.argv[0]) == "gh":
    state = world["prs"].get(args[2])
    if state is None:
        sys.stderr.write("GraphQL: Could not resolve to a PullRequest\\n")
        sys.exit(1)
    print(json.dumps({{"state": state}}))
elif args[:2] == ["stack", "ls"]:
    print(json.dumps(world["stacks"]))
elif args[0] == "destroy":
    stack = args[args.index("--stack") + 1]
    if stack in world.get("locked", []):
        sys.stderr.write("error: the stack is currently locked by 1 lock(s)\\n")
        sys.exit(255)
"""


def ago(days: float) -> str:
    return (NOW - dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def sweep(tmp_path: Path, world: dict[str, Any], *args: str) -> tuple[int, dict[str, Any], list[list[str]]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in ("pulumi", "gh"):
        tool = bin_dir / name
        tool.write_text(FAKE.format(python=sys.executable))
        tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    (tmp_path / "world.json").write_text(json.dumps(world))
    calls = tmp_path / "calls.jsonl"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_WORLD": str(tmp_path / "world.json"),
        "FAKE_CALLS": str(calls),
    }
    result = subprocess.run(
        [sys.executable, "-m", "ops.sweep_previews", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    recorded = [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []
    return result.returncode, json.loads(result.stdout), recorded


def destroyed(calls: list[list[str]]) -> list[str]:
    return [call[call.index("--stack") + 1] for call in calls if call[:2] == ["pulumi", "destroy"]]


def test_closed_merged_and_idle_previews_go_open_recent_ones_and_other_stacks_stay(tmp_path: Path) -> None:
    world = {
        "stacks": [
            {"name": "dev", "lastUpdate": ago(30), "updateInProgress": False},
            {"name": "prod", "lastUpdate": ago(30), "updateInProgress": False},
            {"name": "pr-1", "lastUpdate": ago(0.1), "updateInProgress": False},  # closed an hour ago
            {"name": "org/rrweb-s3-storage/pr-2", "lastUpdate": ago(2), "updateInProgress": False},  # merged
            {"name": "pr-3", "lastUpdate": ago(1), "updateInProgress": False},  # open, recent
            {"name": "pr-4", "lastUpdate": ago(8), "updateInProgress": False},  # open, idle for 8 days
            {"name": "pr-5", "lastUpdate": ago(20), "updateInProgress": True},  # closed, being deployed
            {"name": "pr-6"},  # open, never updated
        ],
        "prs": {"1": "CLOSED", "2": "MERGED", "3": "OPEN", "4": "OPEN", "5": "CLOSED", "6": "OPEN"},
    }
    code, report, calls = sweep(tmp_path, world)
    assert code == 0, report
    assert destroyed(calls) == ["pr-1", "org/rrweb-s3-storage/pr-2", "pr-4"]
    assert [entry["reason"] for entry in report["destroyed"]] == [
        "pull request closed",
        "pull request merged",
        "not updated for more than 7 days",
    ]
    assert {entry["stack"] for entry in report["kept"]} == {"pr-3", "pr-5", "pr-6"}
    # dev and prod are never looked up, let alone destroyed; a destroy removes the stack too.
    assert sorted(call[3] for call in calls if call[0] == "gh") == ["1", "2", "3", "4", "5", "6"]
    assert all({"--yes", "--remove"} <= set(call) for call in calls if call[:2] == ["pulumi", "destroy"])


def test_the_idle_bound_is_a_flag(tmp_path: Path) -> None:
    world = {"stacks": [{"name": "pr-4", "lastUpdate": ago(8)}], "prs": {"4": "OPEN"}}
    code, report, calls = sweep(tmp_path, world, "--max-idle-days", "10")
    assert (code, destroyed(calls), report["kept"]) == (0, [], [{"stack": "pr-4"}])


def test_a_failed_lookup_or_destroy_keeps_the_stack_and_fails_the_run(tmp_path: Path) -> None:
    world = {
        "stacks": [{"name": "pr-7", "lastUpdate": ago(1)}, {"name": "pr-8", "lastUpdate": ago(1)}],
        "prs": {"8": "CLOSED"},  # GitHub does not know 7
        "locked": ["pr-8"],
    }
    code, report, calls = sweep(tmp_path, world)
    assert code == 1
    assert destroyed(calls) == ["pr-8"]  # tried, and refused by the lock
    assert report["destroyed"] == []
    assert [entry["stack"] for entry in report["failed"]] == ["pr-7", "pr-8"]
    assert "Could not resolve" in report["failed"][0]["error"]
    assert "locked" in report["failed"][1]["error"]


def test_verdicts() -> None:
    recent = Stack(name="pr-1", last_update=NOW - dt.timedelta(days=1), update_in_progress=False)
    assert verdict(recent, "OPEN", now=NOW, max_idle=WEEK) is None
    assert verdict(recent, "CLOSED", now=NOW, max_idle=WEEK) == "pull request closed"
    busy = Stack(name="pr-1", last_update=None, update_in_progress=True)
    assert verdict(busy, "MERGED", now=NOW, max_idle=WEEK) is None
    assert Stack(name="pr-12", last_update=None, update_in_progress=False).pull_request == 12
    assert Stack(name="prod", last_update=None, update_in_progress=False).pull_request is None
    assert Stack(name="xpr-12", last_update=None, update_in_progress=False).pull_request is None
    assert parse_time("2026-01-02T03:04:05.000Z") == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert parse_time("2026-01-02T03:04:05") == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert parse_time("yesterday") is None
    assert parse_time(None) is None
