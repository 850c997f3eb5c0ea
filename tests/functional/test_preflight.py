"""``make preflight``: against the embedded AWS (moto behind the local stack's guard), and with refusals injected.

The embedded AWS answers STS, API Gateway's account settings, IAM and SES identities as
AWS does; it serves no Lambda account settings and no SES account status, which the
preflight then reports as unread, with the command to check by hand. The states a new
account can be in (a low concurrency quota, SES's sandbox, a refused read) are injected
with botocore's Stubber, whose answers are checked against each service's model.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.config import Config
from botocore.stub import Stubber

from infra.settings import PROJECT, StackSettings
from ops import preflight
from tests.support.embedded_aws import Served, guarded_moto, point_boto3_at

KEY_ID = "AKPREFLIGHT000000001"
SECRET = "preflight-test-secret-0123456789abcdefg"
ROLE = "rrweb-s3-storage-dev-api-apigateway-logs-role"
ROLE_ARN = f"arn:aws:iam::123456789012:role/{ROLE}"


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    with guarded_moto(key_id=KEY_ID, secret=SECRET, journal=tmp_path / "journal", cognito_file=tmp_path / "c") as it:
        point_boto3_at(it, monkeypatch, key_id=KEY_ID, secret=SECRET)
        yield it


@pytest.fixture
def stacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder whose stack files the test writes; the real dev and prod files are copied in."""
    root = tmp_path / "project"
    root.mkdir()
    for stack in ("dev", "prod"):
        (root / f"Pulumi.{stack}.yaml").write_text((preflight.ROOT / f"Pulumi.{stack}.yaml").read_text())
    # The built site, as `make site` leaves it in the project.
    (root / "site").mkdir()
    (root / "site" / "public").symlink_to(preflight.ROOT / "site" / "public")
    monkeypatch.setattr(preflight, "ROOT", root)
    return root


def write_stack(root: Path, stack: str, **settings: str) -> None:
    config = {"aws:region": "us-east-1", **{f"{PROJECT}:{key}": value for key, value in settings.items()}}
    (root / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))


def run(stack: str) -> tuple[int, dict[str, str]]:
    """``make preflight STACK=<stack>``'s exit code, and each check's status."""
    out = io.StringIO()
    with redirect_stdout(out):
        code = preflight.main(["--stack", stack])
    lines = out.getvalue().splitlines()
    statuses = {}
    for line in lines:
        if line.startswith("["):
            status, rest = line[1:].split("] ", 1)
            statuses[rest.split(":", 1)[0]] = status.strip()
    return code, statuses


def aws(served: Served, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=served.url,
        region_name="us-east-1",
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        config=Config(retries={"max_attempts": 1}),
    )


def test_dev_in_the_embedded_aws_has_nothing_blocking_and_says_what_it_could_not_read(
    served: Served, stacks: Path
) -> None:
    code, statuses = run("dev")
    assert code == 0, statuses
    assert statuses["credentials"] == "ok"
    assert statuses["region"] == "ok"
    assert statuses["API Gateway logging role"] == "ok"  # dev sets it itself
    assert statuses["Lambda concurrency"] == "unread"  # the embedded AWS serves no GetAccountSettings
    assert statuses["user pool email"] == "ok"
    assert statuses["packaging Python"] == "ok"
    assert statuses["CloudFront"] == "by hand"


def test_a_stack_that_logs_access_needs_the_accounts_role_set_and_existing(served: Served, stacks: Path) -> None:
    write_stack(stacks, "pr-7", apiAccessLogs="true")
    code, statuses = run("pr-7")
    assert (code, statuses["API Gateway logging role"]) == (1, "FAIL"), "no role set in the account"

    aws(served, "apigateway").update_account(
        patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": ROLE_ARN}]
    )
    code, statuses = run("pr-7")
    assert (code, statuses["API Gateway logging role"]) == (1, "FAIL"), "the role named is gone"

    aws(served, "iam").create_role(RoleName=ROLE, AssumeRolePolicyDocument="{}")
    code, statuses = run("pr-7")
    assert (code, statuses["API Gateway logging role"]) == (0, "ok")


def test_an_email_sender_needs_its_ses_identity_verified(served: Served, stacks: Path) -> None:
    write_stack(stacks, "mail", emailFrom="Recordings <no-reply@mail.example.com>")
    code, statuses = run("mail")
    assert (code, statuses["user pool email"]) == (1, "FAIL"), "not an SES identity"

    aws(served, "sesv2").create_email_identity(EmailIdentity="mail.example.com")
    code, statuses = run("mail")
    assert (code, statuses["user pool email"]) == (1, "FAIL"), "not verified yet"


def test_settings_the_program_would_refuse_fail_the_preflight(served: Served, stacks: Path) -> None:
    write_stack(stacks, "bad", lambdaRuntime="python3.9")
    assert run("bad")[0] == 1


def test_without_credentials_nothing_else_in_aws_is_asked(served: Served, stacks: Path) -> None:
    code, statuses = run_with_credentials("AKPREFLIGHT000000001", "a-secret-anyone-could-guess-0123456789")
    assert (code, statuses["credentials"]) == (1, "FAIL")
    assert "Lambda concurrency" not in statuses


def run_with_credentials(key_id: str, secret: str) -> tuple[int, dict[str, str]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", key_id)
        patch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        return run("dev")


# Refusals and account states injected with botocore's Stubber.


class Stubbed:
    """Real clients with stubbed answers: ``clients(service)`` for ``preflight.preflight``."""

    def __init__(self) -> None:
        self.clients: dict[str, Any] = {}
        self.stubs: dict[str, Stubber] = {}

    def __call__(self, service: str) -> Any:
        return self.client(service)

    def client(self, service: str) -> Any:
        if service not in self.clients:
            self.clients[service] = boto3.client(
                service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
            )
            self.stubs[service] = Stubber(self.clients[service])
            self.stubs[service].activate()
        return self.clients[service]

    def answer(self, service: str, operation: str, response: dict[str, Any]) -> None:
        self.client(service)
        self.stubs[service].add_response(operation, response)

    def refuse(self, service: str, operation: str, code: str, status: int = 403) -> None:
        self.client(service)
        self.stubs[service].add_client_error(operation, service_error_code=code, http_status_code=status)


def identity(stubbed: Stubbed) -> None:
    stubbed.answer(
        "sts",
        "get_caller_identity",
        {"UserId": "AIDA", "Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/deployer"},
    )


def concurrency(stubbed: Stubbed, limit: int, unreserved: int) -> None:
    stubbed.answer(
        "lambda",
        "get_account_settings",
        {"AccountLimit": {"ConcurrentExecutions": limit, "UnreservedConcurrentExecutions": unreserved}},
    )


def findings(settings: StackSettings, stubbed: Stubbed) -> dict[str, preflight.Finding]:
    found = preflight.preflight(settings, "us-east-1", stubbed, available=lambda _: ["us-east-1"])
    return {finding.check: finding for finding in found}


PROD = StackSettings(stack="prod", kinesis_shards=2, consumer_parallelization=2, protect_data=True)


@pytest.mark.parametrize(
    ("limit", "unreserved", "status"),
    [(1000, 1000, "ok"), (10, 10, "warn"), (10, 6, "FAIL")],
    ids=["full", "a new account's 10", "below what prod needs"],
)
def test_the_concurrency_quota_against_what_the_stack_needs(limit: int, unreserved: int, status: str) -> None:
    stubbed = Stubbed()
    identity(stubbed)
    concurrency(stubbed, limit, unreserved)
    found = findings(StackSettings(stack="prod", kinesis_shards=2, consumer_parallelization=2), stubbed)
    assert preflight.needed_concurrency(PROD) == 7
    assert found["Lambda concurrency"].status == status
    if status != "ok":
        assert "Service Quotas" in found["Lambda concurrency"].todo


def test_a_refused_read_is_reported_with_the_command_to_check_by_hand() -> None:
    stubbed = Stubbed()
    identity(stubbed)
    stubbed.refuse("lambda", "get_account_settings", "AccessDeniedException")
    found = findings(StackSettings(stack="dev"), stubbed)["Lambda concurrency"]
    assert found.status == "unread"
    assert "AccessDeniedException" in found.found
    assert found.todo == "check by hand: aws lambda get-account-settings"


@pytest.mark.parametrize(
    ("account", "status"),
    [
        ({"ProductionAccessEnabled": True, "SendingEnabled": True}, "ok"),
        ({"ProductionAccessEnabled": False, "SendingEnabled": True}, "warn"),
        ({"ProductionAccessEnabled": True, "SendingEnabled": False}, "FAIL"),
    ],
    ids=["production", "sandbox", "paused"],
)
def test_a_verified_ses_identity_and_the_accounts_sending_status(account: dict[str, Any], status: str) -> None:
    stubbed = Stubbed()
    identity(stubbed)
    concurrency(stubbed, 1000, 1000)
    stubbed.answer("sesv2", "get_email_identity", {"VerifiedForSendingStatus": True})
    stubbed.answer("sesv2", "get_account", account)
    settings = StackSettings(stack="prod", email_from="no-reply@example.com").validate()
    assert findings(settings, stubbed)["user pool email"].status == status


def test_prod_without_an_email_sender_is_warned_of_cognitos_cap() -> None:
    stubbed = Stubbed()
    identity(stubbed)
    concurrency(stubbed, 1000, 1000)
    found = findings(PROD, stubbed)["user pool email"]
    assert found.status == "warn"
    assert "emailFrom" in found.todo


def test_a_region_without_a_service_the_stack_uses_fails() -> None:
    found = preflight.check_region("xx-east-1", lambda service: [] if service == "firehose" else ["xx-east-1"])
    assert found.status == "FAIL"
    assert "firehose" in found.found
    assert preflight.check_region(None, lambda _: []).status == "FAIL"
