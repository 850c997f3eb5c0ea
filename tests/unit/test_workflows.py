"""The delivery workflows pass actionlint, pin every action, and ask for little."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

WORKFLOWS = sorted((Path(__file__).parents[2] / ".github" / "workflows").glob("*.yml"))
ACTIONLINT = shutil.which("actionlint") or str(Path(sys.executable).parent / "actionlint")


def test_the_workflows_exist() -> None:
    assert [path.name for path in WORKFLOWS] == ["ci.yml", "deploy.yml", "preview.yml", "sweep-previews.yml"]


def test_actionlint_finds_nothing() -> None:
    result = subprocess.run(
        [ACTIONLINT, "-no-color", *map(str, WORKFLOWS)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_does_catch_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.nope }}\n"
    )
    result = subprocess.run([ACTIONLINT, "-no-color", str(broken)], capture_output=True, text=True, check=False)
    assert result.returncode != 0


def test_every_action_is_pinned_to_a_commit() -> None:
    for path in WORKFLOWS:
        for uses in re.findall(r"uses:\s*(\S+)", path.read_text()):
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", uses), f"{path.name}: {uses}"


def test_workflows_default_to_read_only_permissions() -> None:
    for path in WORKFLOWS:
        workflow = yaml.safe_load(path.read_text())
        assert workflow["permissions"] == {"contents": "read"}, path.name
        for name, job in workflow["jobs"].items():
            granted = job.get("permissions", {})
            assert set(granted) <= {"actions", "contents", "id-token", "pull-requests"}, f"{path.name}:{name}"
            assert granted.get("contents", "read") == "read", f"{path.name}:{name}"
            assert granted.get("actions", "read") == "read", f"{path.name}:{name}"


def test_fork_previews_need_a_label_and_an_approving_environment() -> None:
    preview = yaml.safe_load((WORKFLOWS[2]).read_text())
    deploy = preview["jobs"]["deploy"]
    assert "github.event.label.name == 'preview'" in deploy["if"]
    assert "preview-fork" in deploy["environment"]["name"]
    destroy = preview["jobs"]["destroy"]
    assert destroy["steps"][0]["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"


def test_prod_deploys_the_commit_that_passed_dev_behind_approval() -> None:
    deploy = yaml.safe_load((WORKFLOWS[1]).read_text())
    prod = deploy["jobs"]["prod"]
    assert prod["needs"] == "dev"
    assert prod["environment"]["name"] == "production"
    assert prod["steps"][0]["with"]["ref"] == deploy["jobs"]["dev"]["steps"][0]["with"]["ref"] == "${{ github.sha }}"
