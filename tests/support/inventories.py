"""Stack inventories: the real Pulumi program run under Pulumi's mocks, one process per stack."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
STACKS = ("dev", "prod", "pr-123")


class Inventory:
    """One stack's resources and exports."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.stack: str = data["stack"]
        self.resources: list[dict[str, Any]] = data["resources"]
        self.exports: dict[str, Any] = data["exports"]

    def of_type(self, typ: str) -> list[dict[str, Any]]:
        """Resources of one type token."""
        return [r for r in self.resources if r["type"] == typ]

    def one(self, typ: str) -> dict[str, Any]:
        """The only resource of a type."""
        (resource,) = self.of_type(typ)
        return resource


def run_inventories(folder: Path, *overrides: str) -> dict[str, Inventory]:
    """Every stack's inventory, each with ``key=value`` config ``overrides`` over its file."""
    return {stack: run_inventory(stack, folder / f"{stack}.json", *overrides) for stack in STACKS}


def run_inventory(stack: str, target: Path, *overrides: str) -> Inventory:
    """One stack's inventory (the program under Pulumi's mocks, in its own process), written to ``target``."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.infra.inventory", stack, str(target), *overrides],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return Inventory(json.loads(target.read_text()))


def shared_inventories(tmp_path_factory: pytest.TempPathFactory, name: str, *overrides: str) -> dict[str, Inventory]:
    """``run_inventories`` once per test run, also when xdist's workers each ask for them.

    A session fixture runs once per worker; the Pulumi programs are the slowest setup of
    the fast layers, so the first worker runs them under a lock in the run's shared temp
    folder and the others read its files.
    """
    root = tmp_path_factory.getbasetemp()
    if "PYTEST_XDIST_WORKER" in os.environ:
        root = root.parent
    folder = root / f"shared-{name}"
    with (root / f"shared-{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / "done").exists():
            return {stack: Inventory(json.loads((folder / f"{stack}.json").read_text())) for stack in STACKS}
        folder.mkdir(exist_ok=True)
        out = run_inventories(folder, *overrides)
        (folder / "done").touch()
        return out
