"""Details AWS and the provider hold the stack to: account-wide names, deprecated arguments, idle queues."""

from __future__ import annotations

import dataclasses
from typing import Any

import pulumi
import pytest

from infra.settings import StackSettings
from tests.infra.inventory import REGION
from tests.infra.test_components import RecordingMocks, monitoring_args
from tests.support.inventories import STACKS, Inventory

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
QUEUE_ALARMS = ("consume-events-failures", "reap-orphans-dead-letters")


@pytest.mark.parametrize("stack", STACKS)
def test_the_dashboard_name_holds_the_region_as_dashboards_are_named_per_account(
    inventories: dict[str, Inventory], stack: str
) -> None:
    dashboard = inventories[stack].one(DASHBOARD)["inputs"]
    assert dashboard["dashboardName"] == f"rrweb-s3-storage-{stack}-{REGION}"


def test_the_dashboard_is_named_for_the_region_the_stack_deploys_to() -> None:
    from infra.monitoring import Monitoring

    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="rrweb-s3-storage", stack="unit", preview=False)
    args = dataclasses.replace(monitoring_args(StackSettings(stack="unit")), region="eu-west-2")

    @pulumi.runtime.test
    def declare() -> Any:
        return Monitoring("unit-monitoring", args).dashboard.dashboard_name

    declare()
    (dashboard,) = [r for r in mocks.created if r.typ == DASHBOARD]
    assert dashboard.inputs["dashboardName"] == "rrweb-s3-storage-unit-eu-west-2"


@pytest.mark.parametrize("stack", STACKS)
def test_no_resource_uses_an_argument_the_provider_deprecates(inventories: dict[str, Inventory], stack: str) -> None:
    inventory = inventories[stack]
    # Roles: managed policies are attached by aws.iam.RolePolicyAttachment.
    for role in inventory.of_type("aws:iam/role:Role"):
        assert "managedPolicyArns" not in role["inputs"], role["urn"]
    # Global secondary indexes: keys as a key schema, not hash_key/range_key.
    indexes = [i for t in inventory.of_type("aws:dynamodb/table:Table") for i in t["inputs"]["globalSecondaryIndexes"]]
    assert indexes
    for index in indexes:
        assert "hashKey" not in index, index["name"]
        assert "rangeKey" not in index, index["name"]
        assert [k["keyType"] for k in index["keySchemas"]] == ["HASH", "RANGE"], index["name"]


@pytest.mark.parametrize("stack", STACKS)
def test_failure_queue_alarms_keep_their_state_while_an_idle_queue_reports_nothing(
    inventories: dict[str, Inventory], stack: str
) -> None:
    # SQS stops sending a queue's metrics six hours after its last message or call: messages
    # that wait untouched must not clear the alarm by going silent.
    inventory = inventories[stack]
    alarms = {
        a["inputs"]["name"].removeprefix(f"rrweb-s3-storage-{stack}-"): a["inputs"] for a in inventory.of_type(ALARM)
    }
    for role in QUEUE_ALARMS:
        alarm = alarms[role]
        assert (alarm["namespace"], alarm["metricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible"), role
        assert alarm["treatMissingData"] == "ignore", role


@pytest.mark.parametrize("stack", STACKS)
def test_cloudfront_names_hold_the_region_as_they_are_named_per_account(
    inventories: dict[str, Inventory], stack: str
) -> None:
    inventory = inventories[stack]
    for typ in (
        "aws:cloudfront/originAccessControl:OriginAccessControl",
        "aws:cloudfront/cachePolicy:CachePolicy",
        "aws:cloudfront/originRequestPolicy:OriginRequestPolicy",
    ):
        for resource in inventory.of_type(typ):
            assert resource["inputs"]["name"].startswith(f"rrweb-s3-storage-{stack}-{REGION}-"), typ


@pytest.mark.parametrize("stack", STACKS)
def test_no_minimum_tls_version_is_set_where_cloudfront_ignores_it(
    inventories: dict[str, Inventory], stack: str
) -> None:
    # With the default certificate CloudFront keeps its TLSv1 policy whatever is asked.
    certificate = inventories[stack].one("aws:cloudfront/distribution:Distribution")["inputs"]["viewerCertificate"]
    assert certificate["cloudfrontDefaultCertificate"] is True
    assert "minimumProtocolVersion" not in certificate


@pytest.mark.parametrize("stack", STACKS)
def test_every_function_runs_the_stacks_runtime_on_its_processor_not_the_deploying_python(
    inventories: dict[str, Inventory], stack: str
) -> None:
    functions = inventories[stack].of_type("aws:lambda/function:Function")
    assert len(functions) == 7
    for function in functions:
        assert function["inputs"]["runtime"] == "python3.13", function["name"]
        assert function["inputs"]["architectures"] == ["arm64"], function["name"]


@pytest.mark.parametrize(
    ("key", "value"),
    [("lambda_runtime", "python3.9"), ("lambda_runtime", "3.13"), ("lambda_architecture", "aarch64")],
)
def test_a_runtime_or_processor_lambda_does_not_offer_is_refused_before_anything_is_created(
    key: str, value: str
) -> None:
    changed: dict[str, Any] = {key: value}
    with pytest.raises(ValueError, match=r"lambda(Runtime|Architecture) must be one of"):
        dataclasses.replace(StackSettings(stack="unit"), **changed).validate()


def declared_pool(settings: StackSettings) -> dict[str, Any]:
    """The user pool's inputs as the Auth component declares it for ``settings``."""
    from infra.auth import Auth, AuthArgs

    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="rrweb-s3-storage", stack="unit", preview=False)

    @pulumi.runtime.test
    def declare() -> Any:
        return Auth(
            "unit-auth", AuthArgs(settings=settings, account_id="123456789012", region="eu-west-1")
        ).user_pool.id

    declare()
    (pool,) = [r for r in mocks.created if r.typ == "aws:cognito/userPool:UserPool"]
    inputs: dict[str, Any] = pool.inputs
    return inputs


def test_without_an_email_sender_the_pool_uses_cognitos_and_asks_nothing_it_refuses() -> None:
    pool = declared_pool(StackSettings(stack="unit"))
    assert pool["emailConfiguration"] == {"emailSendingAccount": "COGNITO_DEFAULT"}
    # Custom invitation text needs the pool's own SES sender (Cognito's EmailConfigurationType).
    assert set(pool["adminCreateUserConfig"]["inviteMessageTemplate"]) == {"smsMessage"}


@pytest.mark.parametrize(
    ("email_from", "ses_identity", "identity"),
    [
        ("Recordings <no-reply@mail.example.com>", None, "mail.example.com"),
        ("no-reply@example.com", "no-reply@example.com", "no-reply@example.com"),
        ("Recordings <no-reply@mail.example.com>", "example.com", "example.com"),
    ],
)
def test_an_email_sender_sends_through_the_stacks_ses_identity(
    email_from: str, ses_identity: str | None, identity: str
) -> None:
    pool = declared_pool(StackSettings(stack="unit", email_from=email_from, ses_identity=ses_identity).validate())
    assert pool["emailConfiguration"] == {
        "emailSendingAccount": "DEVELOPER",
        "fromEmailAddress": email_from,
        "sourceArn": f"arn:aws:ses:eu-west-1:123456789012:identity/{identity}",
    }
    assert "{####}" in pool["adminCreateUserConfig"]["inviteMessageTemplate"]["emailMessage"]


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        ({"email_from": "not an address"}, "emailFrom must be an address"),
        ({"email_from": "no-reply@example.com>"}, "emailFrom must be an address"),
        ({"email_from": "Recordings <no-reply@example.com"}, "emailFrom must be an address"),
        ({"email_from": "A, B <no-reply@example.com>"}, "emailFrom must be an address"),
        ({"ses_identity": "example.com"}, "set emailFrom too"),
        ({"email_from": "a@x.example.com", "ses_identity": "other.com"}, "sesIdentity must be"),
        ({"email_from": "a@example.com", "ses_identity": "b@example.com"}, "sesIdentity must be"),
    ],
)
def test_an_email_sender_cognito_would_refuse_is_refused_before_anything_is_created(
    changed: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(StackSettings(stack="unit"), **changed).validate()


@pytest.mark.parametrize("stack", STACKS)
def test_the_stacks_send_with_cognitos_sender_until_given_one(inventories: dict[str, Inventory], stack: str) -> None:
    pool = inventories[stack].one("aws:cognito/userPool:UserPool")["inputs"]
    assert pool["emailConfiguration"]["emailSendingAccount"] == "COGNITO_DEFAULT"


def test_the_bundle_the_stacks_deploy_fits_their_runtime_and_processor() -> None:
    from infra import packaging

    built = packaging.package("dev")  # what the program packages with the default settings
    assert packaging.verify(built, "python3.13", "arm64", packaging.API_DIR / "requirements.txt") == []
    # The same bundle does not pass for the other processor: the check reads the wheels.
    assert packaging.verify(built, "python3.13", "x86_64", packaging.API_DIR / "requirements.txt") != []
