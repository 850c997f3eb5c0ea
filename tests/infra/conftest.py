"""Stack inventories: the real program run under Pulumi's mocks, one process per stack."""

from __future__ import annotations

import json
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
    out = {}
    for stack in STACKS:
        target = folder / f"{stack}.json"
        result = subprocess.run(
            [sys.executable, "-m", "tests.infra.inventory", stack, str(target), *overrides],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-4000:]
        out[stack] = Inventory(json.loads(target.read_text()))
    return out


@pytest.fixture(scope="session")
def inventories(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Inventory]:
    return run_inventories(tmp_path_factory.mktemp("inventories"))


@pytest.fixture(scope="session")
def self_sign_up_inventories(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Inventory]:
    """Every stack as its owner would deploy it with ``selfSignUp: true`` added to its config."""
    return run_inventories(tmp_path_factory.mktemp("self-sign-up"), "rrweb-s3-storage:selfSignUp=true")
