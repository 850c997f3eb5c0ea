"""API Gateway's CloudWatch Logs role: a setting of the account and region, not of one stack.

A stage with access logs fails to deploy unless the account's settings name a role
API Gateway writes logs with. The stacks that set it (dev, prod) keep the role and the
setting when destroyed, so destroying one never breaks another stack's logging; a stack
that does not set it (a PR stack) deploys without access logs unless told the role is set.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pulumi
import pytest

from infra.packaging import ChalicePackage, package
from infra.settings import StackSettings
from tests.infra.inventory import ACCOUNT
from tests.infra.test_components import RecordingMocks
from tests.support.inventories import Inventory

ACCOUNT_SETTINGS = "aws:apigateway/account:Account"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
STAGE = "aws:apigateway/stage:Stage"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
PUSH_TO_LOGS = "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"


def api_gateway_roles(inventory: Inventory) -> list[dict[str, Any]]:
    """Roles API Gateway itself may assume."""
    return [
        role
        for role in inventory.of_type(ROLE)
        if any(
            statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
            for statement in json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
        )
    ]


def access_log_groups(inventory: Inventory) -> list[dict[str, Any]]:
    return [g for g in inventory.of_type(LOG_GROUP) if g["inputs"]["name"].startswith("/aws/apigateway/")]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_dev_and_prod_set_the_accounts_logging_role_and_keep_it_when_destroyed(
    inventories: dict[str, Inventory], stack: str
) -> None:
    inventory = inventories[stack]
    account = inventory.one(ACCOUNT_SETTINGS)
    (role,) = api_gateway_roles(inventory)
    role_name = f"{role['name']}-a1b2c3d"  # the mocks' auto-name
    assert account["inputs"]["cloudwatchRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{role_name}"
    # The managed policy is attached by its own resource (the role's managed_policy_arns is deprecated).
    assert "managedPolicyArns" not in role["inputs"]
    (attachment,) = [a for a in inventory.of_type(ATTACHMENT) if a["inputs"]["role"] == role_name]
    assert attachment["inputs"]["policyArn"] == PUSH_TO_LOGS
    # Destroying the stack leaves the account's setting, the role and its policy in place.
    for resource in (account, role, attachment):
        assert resource["retainOnDelete"] is True, resource["urn"]
    stage = inventory.one(STAGE)["inputs"]
    (group,) = access_log_groups(inventory)
    assert stage["accessLogSettings"]["destinationArn"].endswith(f":log-group:{group['inputs']['name']}:*")


def test_a_stack_that_does_not_set_the_role_deploys_its_stage_without_access_logs(
    inventories: dict[str, Inventory],
) -> None:
    inventory = inventories["pr-123"]
    assert inventory.of_type(ACCOUNT_SETTINGS) == []
    assert api_gateway_roles(inventory) == []
    assert not inventory.one(STAGE)["inputs"].get("accessLogSettings")
    assert access_log_groups(inventory) == []


def declare_api(settings: StackSettings) -> list[pulumi.runtime.MockResourceArgs]:
    """Build the Api component for ``settings`` under the mocks; what it created."""
    from infra.api import Api, ApiArgs

    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="rrweb-s3-storage", stack="unit", preview=False)
    real = package("dev")
    args = ApiArgs(
        settings=settings,
        package=ChalicePackage(
            zip_path=real.zip_path, template=copy.deepcopy(real.template), source_hash=real.source_hash
        ),
        bucket="unit-bucket",
        bucket_arn="arn:aws:s3:::unit-bucket",
        table="unit-table",
        table_arn=f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/unit-table",
        access_table="unit-access",
        access_table_arn=f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/unit-access",
        user_pool_id="us-east-1_unit",
        user_pool_arn="arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_unit",
        user_pool_client_id="unit-client",
        stream="unit-events",
        stream_arn=f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/unit-events",
        account_id=ACCOUNT,
        region="us-east-1",
    )

    @pulumi.runtime.test
    def declare() -> Any:
        return Api("unit-api", args).url

    declare()
    return mocks.created


def test_a_stack_told_the_role_is_set_logs_access_without_touching_the_account() -> None:
    created = declare_api(StackSettings(stack="unit", api_access_logs=True))
    assert [r for r in created if r.typ in (ACCOUNT_SETTINGS, ATTACHMENT)] == []
    (stage,) = [r for r in created if r.typ == STAGE]
    (group,) = [r for r in created if r.typ == LOG_GROUP and r.inputs["name"].startswith("/aws/apigateway/")]
    assert stage.inputs["accessLogSettings"]["destinationArn"].endswith(f":log-group:{group.inputs['name']}:*")
    assert json.loads(stage.inputs["accessLogSettings"]["format"])["status"] == "$context.status"


def test_a_stack_neither_setting_nor_told_of_the_role_asks_for_no_access_logs() -> None:
    created = declare_api(StackSettings(stack="unit", manage_api_gateway_account=False, api_access_logs=False))
    (stage,) = [r for r in created if r.typ == STAGE]
    assert not stage.inputs.get("accessLogSettings")
    assert [r for r in created if r.typ in (ACCOUNT_SETTINGS, ATTACHMENT)] == []


def test_api_access_logs_is_read_from_stack_config() -> None:
    class Config:
        def __init__(self, values: dict[str, str]) -> None:
            self.values = values

        def get(self, key: str) -> str | None:
            return self.values.get(key)

        def get_bool(self, key: str) -> bool | None:
            return None if key not in self.values else self.values[key] == "true"

        get_int = get_float = get_object = get

    # A stand-in with only the getters from_config calls, as in tests/unit/test_config_keys.py.
    told = StackSettings.from_config(Config({"apiAccessLogs": "true"}), "unit")  # type: ignore[arg-type]
    assert (told.api_access_logs, told.access_logs) == (True, True)
    default = StackSettings.from_config(Config({}), "unit")  # type: ignore[arg-type]
    assert (default.api_access_logs, default.access_logs) == (False, False)
