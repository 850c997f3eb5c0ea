"""README's deploy section, run command by command in its order, so it cannot drift from what works.

Each line of the section's shell block is run as written (comments dropped, ``$(...)``
substituted by the command it holds):

- ``make <target> ...`` must be accepted by the Makefile as written (``make -n``: the
  usage checks run in a dry run too); ``make preflight`` then really runs, against the
  embedded AWS (moto behind the local stack's guard), and must find nothing that fails;
- ``pulumi ...`` goes to a stand-in that keeps stacks and their config as Pulumi does (a
  ``config set`` writes the stack's file) and runs ``pulumi up`` as the real program under
  Pulumi's mocks with that stack's configuration: an up that the program refuses (an
  unbuilt site, a setting out of range) fails here;
- any other command fails the test: a new kind of step needs its stand-in here.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.settings import PROJECT
from ops import preflight
from tests.support.embedded_aws import Served, guarded_moto, point_boto3_at
from tests.support.inventories import ROOT, STACKS, Inventory, run_inventory

pytestmark = pytest.mark.long(seconds=20)

README = ROOT / "README.md"
KEY_ID = "AKREADMEDEPLOY000001"
SECRET = "readme-deploy-secret-0123456789abcdefgh"


def deploy_commands() -> list[str]:
    """The lines of the shell block in README's "Deploy to AWS" section, without comments."""
    section = README.read_text().split("## Deploy to AWS", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    lines = [re.sub(r"(^|\s)#.*$", "", line).strip() for line in block.splitlines()]
    return [line for line in lines if line]


@dataclass
class Stack:
    """What the stand-in keeps of a stack: whether it holds resources, and its outputs."""

    deployed: bool = False
    outputs: dict[str, Any] = field(default_factory=dict)


class Pulumi:
    """The ``pulumi`` commands README uses, over a project folder of its own."""

    def __init__(self, project: Path, work: Path, inventories: dict[str, Inventory]) -> None:
        self.project = project
        self.work = work
        self.inventories = inventories
        self.backend: str | None = None
        self.stacks: dict[str, Stack] = {}
        self.ups: list[str] = []

    def __call__(self, argv: list[str]) -> str:
        options = {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if argv[i] == "--stack"}
        words = [a for i, a in enumerate(argv) if a != "--yes" and a != "--stack" and argv[i - 1 : i] != ["--stack"]]
        stack = options.get("--stack")
        match words:
            case ["login", *backend]:
                self.backend = backend[0] if backend else "https://api.pulumi.com"
                return ""
            case ["stack", "init", name]:
                assert self.backend, "pulumi login first"
                assert name not in self.stacks, f"stack {name} already exists"
                self.stacks[name] = Stack()
                return ""
            case ["config", "set", key, value]:
                self._stack(stack)
                path = self.stack_file(stack)
                data = yaml.safe_load(path.read_text()) if path.exists() else {"config": {}}
                data["config"][key if ":" in key else f"{PROJECT}:{key}"] = value
                path.write_text(yaml.safe_dump(data))
                return ""
            case ["up"]:
                self._up(self._stack(stack), stack)  # type: ignore[arg-type]
                return ""
            case ["stack", "output", name]:
                outputs = self._stack(stack).outputs
                assert name in outputs, f"stack {stack} has no output {name}: {sorted(outputs)}"
                return str(outputs[name])
            case ["destroy"]:
                self._stack(stack).deployed = False
                self._stack(stack).outputs = {}
                return ""
            case ["stack", "rm", name]:
                assert not self._stack(name).deployed, f"stack {name} still has resources: pulumi destroy first"
                del self.stacks[name]
                self.stack_file(name).unlink(missing_ok=True)
                return ""
        raise AssertionError(f"README runs `pulumi {' '.join(argv)}`, which this test has no stand-in for")

    def stack_file(self, stack: str | None) -> Path:
        return self.project / f"Pulumi.{stack}.yaml"

    def _stack(self, name: str | None) -> Stack:
        assert name, "every pulumi command in README names its stack (--stack)"
        assert name in self.stacks, f"no stack named {name}: pulumi stack init {name} first"
        return self.stacks[name]

    def _up(self, stack: Stack, name: str) -> None:
        path = self.stack_file(name)
        config = {k: str(v) for k, v in (yaml.safe_load(path.read_text())["config"] if path.exists() else {}).items()}
        repo_file = ROOT / f"Pulumi.{name}.yaml"
        repo = {
            k: str(v)
            for k, v in (yaml.safe_load(repo_file.read_text())["config"] if repo_file.exists() else {}).items()
        }
        if name in STACKS and config == repo:
            # The same program with the same configuration: the run the infra layer made.
            inventory = self.inventories[name]
        else:
            overrides = [f"{key}={value}" for key, value in config.items()]
            inventory = run_inventory(name, self.work / f"{name}.json", *overrides)
        stack.deployed = True
        stack.outputs = dict(inventory.exports)
        self.ups.append(name)


@pytest.fixture
def embedded_aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    with guarded_moto(key_id=KEY_ID, secret=SECRET, journal=tmp_path / "journal", cognito_file=tmp_path / "c") as it:
        point_boto3_at(it, monkeypatch, key_id=KEY_ID, secret=SECRET)
        yield it


def make_accepts(argv: list[str]) -> str:
    """What ``make -n`` would run for ``argv`` (it fails, as make does, on a usage error)."""
    dry = subprocess.run(["make", "-n", *argv], cwd=ROOT, capture_output=True, text=True, check=False)
    assert dry.returncode == 0, f"make {' '.join(argv)}: {dry.stderr.strip()}"
    return dry.stdout


def test_readmes_deploy_commands_run_in_order(
    embedded_aws: Served, inventories: dict[str, Inventory], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for path in ROOT.glob("Pulumi*.yaml"):
        shutil.copy(path, project / path.name)
    (project / "site").mkdir()
    (project / "site" / "public").symlink_to(ROOT / "site" / "public")  # what `make site` built
    monkeypatch.setattr(preflight, "ROOT", project)
    pulumi = Pulumi(project, tmp_path, inventories)
    preflights: list[str] = []
    smoked: list[tuple[str, str]] = []

    def substitute(match: re.Match[str]) -> str:
        inner = shlex.split(match.group(1))
        assert inner[0] == "pulumi", f"README substitutes `{match.group(1)}`"
        return pulumi(inner[1:])

    for line in deploy_commands():
        argv = shlex.split(re.sub(r"\$\(([^)]*)\)", substitute, line))
        if argv[0] == "pulumi":
            pulumi(argv[1:])
        elif argv[0] == "make":
            planned = make_accepts(argv[1:])
            target = argv[1]
            variables = dict(arg.split("=", 1) for arg in argv[2:])
            if target == "preflight":
                code = preflight.main(["--stack", variables["STACK"]])
                assert code == 0, f"make preflight STACK={variables['STACK']} failed (its output is above)"
                preflights.append(variables["STACK"])
            elif target == "smoke":
                assert "RRWEB_SMOKE_URL=" in planned
                smoked.append((variables["URL"], variables["POOL"]))
            else:
                assert target == "site", f"README runs `make {target}`, which this test has no check for"
        else:
            raise AssertionError(f"README runs `{line}`, which this test has no stand-in for")

    assert pulumi.ups == ["dev", "prod", "pr-123"], "dev first: it sets API Gateway's logging role"
    assert preflights == pulumi.ups, "a preflight before each first up"
    assert len(smoked) == 3
    assert [pool for _, pool in smoked[:2]] == [inventories[s].exports["user_pool_id"] for s in ("dev", "prod")]
    assert all(url.startswith("https://") for url, _ in smoked), smoked
    assert "pr-123" not in pulumi.stacks, "the preview is torn down"
    assert not (project / "Pulumi.pr-123.yaml").exists()
