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


@pytest.fixture(scope="session")
def inventories(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Inventory]:
    out = {}
    folder = tmp_path_factory.mktemp("inventories")
    for stack in STACKS:
        target = folder / f"{stack}.json"
        result = subprocess.run(
            [sys.executable, "-m", "tests.infra.inventory", stack, str(target)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-4000:]
        out[stack] = Inventory(json.loads(target.read_text()))
    return out
