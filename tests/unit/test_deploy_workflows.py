"""The deploy workflows against GitHub's semantics and the deploy guide.

Per-PR stacks cannot leak (deploy and destroy never replace or cancel each other, a
daily sweep destroys what still outlives its PR), every job that assumes an AWS role
names an environment its role's trust policy in docs/deploy.md lists, every Pulumi step
gets the backend's credentials, prod and fork previews refuse to run unprotected, a
waiting prod does not hold dev back, and the documented ``make smoke`` command works
with the Makefile and needs only the AWS calls the guide grants.
"""

from __future__ import annotations

import ast
import json
import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
GUIDE = ROOT / "docs" / "deploy.md"
SUBJECT = re.compile(r"repo:<owner>/<repo>:environment:([\w-]+)")
# GitHub runs `run:` steps with this shell.
BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]


def load(name: str) -> dict[Any, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def all_workflows() -> dict[str, dict[str, Any]]:
    return {path.name: yaml.safe_load(path.read_text()) for path in sorted(WORKFLOWS.glob("*.yml"))}


def step_index(job: dict[str, Any], predicate: Any) -> int:
    return next(i for i, step in enumerate(job["steps"]) if predicate(step))


def uses(step: dict[str, Any], action: str) -> bool:
    return str(step.get("uses", "")).startswith(action + "@")


def environments_of(job: dict[str, Any]) -> set[str]:
    """The environment names a job can run in: a literal, or the results of a `cond && 'a' || 'b'` expression."""
    environment = job.get("environment")
    name = environment.get("name") if isinstance(environment, dict) else environment
    if not name:
        return set()
    if "${{" in name:
        return set(re.findall(r"(?:&&|\|\|)\s*'([\w-]+)'", name))
    return {name}


def trust_policies() -> dict[str, dict[str, Any]]:
    """docs/deploy.md's trust policy per role variable: the JSON block after "`AWS_..._ROLE_ARN`"."""
    found = re.findall(r"`(AWS_[A-Z]+_ROLE_ARN)`[^\n]*\n\n```json\n(.*?)\n```", GUIDE.read_text(), re.DOTALL)
    return {variable: json.loads(body) for variable, body in found}


def trusted_environments(policy: dict[str, Any]) -> set[str]:
    """The environments whose subjects the policy trusts, checking each subject is matched exactly."""
    environments: set[str] = set()
    for statement in policy["Statement"]:
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        equals = statement["Condition"]["StringEquals"]
        assert equals["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
        subjects = equals["token.actions.githubusercontent.com:sub"]
        for subject in [subjects] if isinstance(subjects, str) else subjects:
            match = SUBJECT.fullmatch(subject)
            assert match, f"not an environment's subject: {subject}"
            environments.add(match.group(1))
        assert "StringLike" not in statement["Condition"], "wildcards would trust more subjects than the jobs'"
    return environments


def role_jobs() -> list[tuple[str, str, dict[str, Any], str]]:
    """(workflow, job name, job, role variable) for every job that assumes an AWS role."""
    found = []
    for workflow_name, workflow in all_workflows().items():
        for name, job in workflow["jobs"].items():
            for step in job.get("steps", []):
                if uses(step, "aws-actions/configure-aws-credentials"):
                    role = re.fullmatch(r"\$\{\{ vars\.(\w+) \}\}", step["with"]["role-to-assume"])
                    assert role, f"{workflow_name}:{name}: role-to-assume is not a repository variable"
                    found.append((workflow_name, name, job, role.group(1)))
    return found


# Row: per-PR stacks cannot leak.


def test_a_prs_deploy_and_destroy_queue_in_one_group_and_never_replace_or_cancel_each_other() -> None:
    preview = load("preview.yml")
    # A workflow-level group is joined by every run, including the skip-only ones (a label on a
    # branch's PR, the second `closed` event), and its single pending slot is taken by the newest.
    assert "concurrency" not in preview
    deploy, destroy = preview["jobs"]["deploy"]["concurrency"], preview["jobs"]["destroy"]["concurrency"]
    assert deploy == destroy
    assert "github.event.pull_request.number" in deploy["group"]
    assert deploy["cancel-in-progress"] is False
    assert deploy["queue"] == "max"  # GitHub's default ("single") cancels a pending job when another arrives


def test_a_deploy_that_starts_after_its_pr_closed_does_nothing() -> None:
    deploy = load("preview.yml")["jobs"]["deploy"]
    assert "github.event.pull_request.state == 'open'" in deploy["if"]
    check = step_index(deploy, lambda step: step.get("id") == "open")
    assert "gh pr view" in deploy["steps"][check]["run"]
    for i, step in enumerate(deploy["steps"]):
        if uses(step, "pulumi/actions") or "make smoke" in step.get("run", "") or uses(step, "actions/github-script"):
            assert i > check, step.get("name")
            assert step["if"] == "steps.open.outputs.state == 'OPEN'", step.get("name")


def test_a_daily_sweep_destroys_the_preview_stacks_that_outlived_their_pr() -> None:
    sweep = load("sweep-previews.yml")
    triggers = sweep[True]  # PyYAML reads the key `on` as True
    assert [entry["cron"] for entry in triggers["schedule"]]
    assert "workflow_dispatch" in triggers
    (job,) = sweep["jobs"].values()
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    assert "python -m ops.sweep_previews --max-idle-days 7" in runs
    assert "7 days" in GUIDE.read_text()  # the documented bound is the one the workflow passes


# Row: OIDC subjects, the Pulumi backend's credentials, the trust policies in the guide.


def test_every_role_has_a_trust_policy_of_environment_subjects_in_the_guide() -> None:
    policies = trust_policies()
    assert set(policies) == {role for *_, role in role_jobs()}
    for policy in policies.values():
        assert trusted_environments(policy)


def test_every_job_that_assumes_a_role_runs_in_an_environment_its_trust_policy_lists() -> None:
    policies = trust_policies()
    jobs = role_jobs()
    assert {(workflow, name) for workflow, name, *_ in jobs} >= {
        ("deploy.yml", "dev"),
        ("deploy.yml", "prod"),
        ("preview.yml", "deploy"),
        ("preview.yml", "destroy"),
        ("sweep-previews.yml", "sweep"),
    }
    used: dict[str, set[str]] = {}
    for workflow, name, job, role in jobs:
        environments = environments_of(job)
        # Without an environment the subject is repo:<owner>/<repo>:pull_request (or :ref:...),
        # which an environment-scoped trust policy refuses.
        assert environments, f"{workflow}:{name} assumes {role} without an environment"
        assert environments <= trusted_environments(policies[role]), f"{workflow}:{name}"
        used.setdefault(role, set()).update(environments)
    # And no role trusts an environment no job uses.
    assert {role: trusted_environments(policy) for role, policy in policies.items()} == used


def test_the_trust_policy_check_catches_a_job_without_an_environment() -> None:
    destroy = dict(load("preview.yml")["jobs"]["destroy"])
    destroy.pop("environment")
    assert environments_of(destroy) == set()
    assert environments_of({"environment": {"name": "${{ a && 'x-1' || 'y' }}"}}) == {"x-1", "y"}


def test_every_pulumi_step_gets_the_backends_credentials() -> None:
    checked = 0
    for workflow_name, workflow in all_workflows().items():
        for name, job in workflow["jobs"].items():
            for step in job.get("steps", []):
                if not (uses(step, "pulumi/actions") and "command" in step.get("with", {})) and not re.search(
                    r"\bpulumi\b|ops\.sweep_previews", step.get("run", "")
                ):
                    continue
                env = {**workflow.get("env", {}), **job.get("env", {}), **step.get("env", {})}
                where = f"{workflow_name}:{name}:{step.get('name', step.get('uses'))}"
                assert env.get("PULUMI_ACCESS_TOKEN") == "${{ secrets.PULUMI_ACCESS_TOKEN }}", where
                assert env.get("PULUMI_BACKEND_URL") == "${{ vars.PULUMI_BACKEND_URL }}", where
                assert env.get("PULUMI_CONFIG_PASSPHRASE") == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}", where
                checked += 1
    assert checked >= 5  # dev and prod up, a PR's up and destroy, the sweep
    assert "PULUMI_ACCESS_TOKEN" in GUIDE.read_text()


# Row: protected environments, and a waiting prod does not hold dev back.


def test_each_deploy_stage_has_its_own_concurrency_group() -> None:
    deploy = load("deploy.yml")
    # A workflow-level group is held by the run whose prod waits for approval: every later
    # push's run waits behind it, and all but the newest pending one are cancelled.
    assert "concurrency" not in deploy
    dev, prod = deploy["jobs"]["dev"]["concurrency"], deploy["jobs"]["prod"]["concurrency"]
    assert dev["group"] != prod["group"]
    assert dev["cancel-in-progress"] is False
    assert prod["cancel-in-progress"] is False
    for name in ("lint", "fast", "slow"):
        assert "concurrency" not in deploy["jobs"][name]


def write_fake_gh(bin_dir: Path, script: str) -> dict[str, str]:
    bin_dir.mkdir(exist_ok=True)
    gh = bin_dir / "gh"
    gh.write_text("#!/bin/sh\n" + script)
    gh.chmod(gh.stat().st_mode | stat.S_IEXEC)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "GITHUB_REPOSITORY": "o/r"}


@pytest.mark.parametrize(
    ("workflow", "job_name", "environment", "before"),
    [
        ("deploy.yml", "prod", "production", "aws-actions/configure-aws-credentials"),
        ("preview.yml", "deploy", "preview-fork", "actions/checkout"),  # the fork's code
    ],
)
def test_a_protected_stage_refuses_to_run_if_its_environment_has_no_required_reviewers(
    tmp_path: Path, workflow: str, job_name: str, environment: str, before: str
) -> None:
    job = load(workflow)["jobs"][job_name]
    assert environment in environments_of(job)
    assert job["permissions"]["actions"] == "read"  # what the environments API asks of the token
    guard = step_index(job, lambda step: f"/environments/{environment}" in step.get("run", ""))
    assert guard < step_index(job, lambda step: uses(step, before))
    script = job["steps"][guard]["run"]
    assert "gh api" in script
    assert "required_reviewers" in script

    def run(gh: str) -> int:
        env = write_fake_gh(tmp_path / "bin", gh)
        return subprocess.run([*BASH, "-c", script], env=env, capture_output=True, check=False).returncode

    assert run('echo "$@" >&2; echo 1') == 0  # a reviewer is required: go on
    assert run("echo 0") != 0  # an environment GitHub made up, or one stripped of its reviewers
    assert run("echo 'HTTP 403' >&2; exit 1") != 0  # cannot tell: refuse


def test_the_guide_says_to_create_the_protected_environments_before_the_first_run() -> None:
    text = GUIDE.read_text()
    section = text[text.index("create them before the first run") :]
    section = section[: section.index("\n## ")] if "\n## " in section else section
    for name in ("dev", "production", "preview", "preview-fork"):
        assert f"`{name}`" in section
    assert "required reviewers" in section
    assert "docs.github.com" in section  # GitHub's own words that a missing environment is made unprotected


# Row: the documented smoke command works, with the permissions the guide gives it.


def documented_smoke_commands() -> list[str]:
    commands = []
    for path in (ROOT / "README.md", GUIDE):
        commands += re.findall(r"make smoke((?: +\w+=(?:\$\([^)]*\)|\"[^\"]*\"|[^\s`]+))+)", path.read_text())
    for workflow in all_workflows().values():
        for job in workflow["jobs"].values():
            for step in job.get("steps", []):
                commands += re.findall(r"make smoke((?: +\w+=\S+)+)", step.get("run", ""))
    return commands


def dry_run_smoke(assignments: list[tuple[str, str]]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-n", "smoke", *(f"{name}={value}" for name, value in assignments)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_every_documented_smoke_command_passes_the_makefiles_check() -> None:
    commands = documented_smoke_commands()
    assert len(commands) >= 4  # the guide's, and the three workflow jobs'
    for command in commands:
        names = re.findall(r"(\w+)=", command)
        # Each documented value (a `$(pulumi stack output ...)`, a quoted variable) stands for one word.
        assignments = [(name, f"value-of-{name.lower()}") for name in names]
        result = dry_run_smoke(assignments)
        assert result.returncode == 0, f"make smoke{command}: {result.stderr}"
        assert "RRWEB_SMOKE_URL='value-of-url'" in result.stdout, command
        assert "RRWEB_SMOKE_USER_POOL_ID='value-of-pool'" in result.stdout, command


def test_a_smoke_command_without_the_pool_is_refused_even_in_a_dry_run() -> None:
    result = dry_run_smoke([("URL", "https://example.test/api")])
    assert result.returncode != 0
    assert "usage: make smoke URL=<api_url output> POOL=<user_pool_id output>" in result.stderr


def aws_calls_of_the_smoke_test() -> set[str]:
    """``service:Operation`` for every ``boto3.client("service").operation(...)`` the smoke test's helpers make."""
    tree = ast.parse((ROOT / "tests" / "support" / "accounts.py").read_text())
    calls = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        client = node.func.value
        if (
            isinstance(client, ast.Call)
            and isinstance(client.func, ast.Attribute)
            and client.func.attr == "client"
            and isinstance(client.func.value, ast.Name)
            and client.func.value.id == "boto3"
        ):
            service = ast.literal_eval(client.args[0])
            operation = "".join(part.capitalize() for part in node.func.attr.split("_"))
            calls.add(f"{service}:{operation}")
    return calls


def test_the_guide_grants_the_smoke_test_exactly_the_aws_calls_it_makes() -> None:
    text = GUIDE.read_text()
    after = text[text.index("**The smoke test**") :]
    block = re.search(r"```json\n(.*?)\n```", after, re.DOTALL)
    assert block, "no policy after the smoke test's paragraph"
    policy = json.loads(block.group(1))
    granted = {action for statement in policy["Statement"] for action in statement["Action"]}
    assert aws_calls_of_the_smoke_test() == granted == {"cognito-idp:AdminCreateUser", "cognito-idp:AdminDeleteUser"}


# Row: the runtime is a stack setting, not whichever Python runs `pulumi up`.


def test_every_job_that_packages_the_functions_sets_up_the_runtimes_python() -> None:
    from infra.packaging import DEFAULT_RUNTIME

    wanted = DEFAULT_RUNTIME.removeprefix("python")
    checked = 0
    for workflow_name, workflow in all_workflows().items():
        for name, job in workflow["jobs"].items():
            steps = job.get("steps", [])
            # pulumi up/preview run the program, which packages; so do the test jobs
            # (the infra layer runs it under mocks).
            if not any(
                (uses(step, "pulumi/actions") and step.get("with", {}).get("command") in ("up", "preview"))
                or re.search(r"\bpulumi (up|preview)\b|\.ci/run", step.get("run", ""))
                for step in steps
            ):
                continue
            (setup,) = [step for step in steps if uses(step, "actions/setup-python")]
            versions = str(setup["with"]["python-version"]).split()
            assert wanted in versions, f"{workflow_name}:{name} packages {DEFAULT_RUNTIME} without Python {wanted}"
            assert versions[-1] == "3.11", f"{workflow_name}:{name}: the default Python (the last listed) runs the rest"
            checked += 1
    assert checked >= 5
