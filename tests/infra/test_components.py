"""Components in process under Pulumi's mocks (the official unit-test mode)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pulumi
import pytest

from infra.packaging import ChalicePackage, package
from infra.settings import CONFIG_KEYS, StackSettings
from tests.infra.inventory import Mocks

ROOT = Path(__file__).resolve().parents[2]


class RecordingMocks(Mocks):
    """The inventory mocks, also listing what was created."""

    def __init__(self) -> None:
        self.created: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.created.append(args)
        return super().new_resource(args)


@pytest.fixture
def mocks() -> RecordingMocks:
    recording = RecordingMocks()
    pulumi.runtime.set_mocks(recording, project="rrweb-s3-storage", stack="unit", preview=False)
    return recording


@pulumi.runtime.test
def test_storage_of_a_dev_stack_can_be_destroyed_with_its_objects(mocks: RecordingMocks) -> Any:
    from infra.storage import Storage, StorageArgs

    storage = Storage("unit-storage", StorageArgs(settings=StackSettings(stack="unit")))

    def check(values: list[Any]) -> None:
        urn, force_destroy = values
        assert force_destroy is True, f"{urn} would block `pulumi destroy` of a dev stack"

    return pulumi.Output.all(storage.bucket.urn, storage.bucket.force_destroy).apply(check)


def api_args(template: dict[str, Any]) -> Any:
    from infra.api import ApiArgs

    real = package("dev")
    return ApiArgs(
        settings=StackSettings(stack="unit"),
        package=ChalicePackage(zip_path=real.zip_path, template=template, source_hash=real.source_hash),
        bucket="unit-bucket",
        bucket_arn="arn:aws:s3:::unit-bucket",
        table="unit-table",
        table_arn="arn:aws:dynamodb:us-east-1:123456789012:table/unit-table",
        access_table="unit-access",
        access_table_arn="arn:aws:dynamodb:us-east-1:123456789012:table/unit-access",
        user_pool_id="us-east-1_unit",
        user_pool_client_id="unit-client",
        stream="unit-events",
        stream_arn="arn:aws:kinesis:us-east-1:123456789012:stream/unit-events",
        account_id="123456789012",
        region="us-east-1",
    )


def test_a_function_without_a_least_privilege_policy_is_refused(mocks: RecordingMocks) -> None:
    from infra.api import Api

    template = copy.deepcopy(package("dev").template)
    template["Resources"]["NewHandler"] = copy.deepcopy(template["Resources"]["APIHandler"])
    with pytest.raises(ValueError, match="NewHandler has no least-privilege policy"):
        Api("unit-api", api_args(template))


def test_kinesis_consumers_declared_by_the_app_get_an_event_source_mapping(mocks: RecordingMocks) -> None:
    from infra.api import Api

    template = copy.deepcopy(package("dev").template)
    template["Resources"]["ReapOrphans"]["Properties"]["Events"] = {
        "LiveChunks": {
            "Type": "Kinesis",
            "Properties": {"Stream": "unit-events", "BatchSize": 50, "StartingPosition": "LATEST"},
        }
    }

    @pulumi.runtime.test
    def declare() -> Any:
        return Api("unit-api", api_args(template)).url

    # Checked once the whole component is registered: nothing orders the mapping before
    # the API's URL, so a check inside an apply on the URL could run before it exists.
    declare()
    (mapping,) = [r for r in mocks.created if r.typ == "aws:lambda/eventSourceMapping:EventSourceMapping"]
    assert mapping.inputs["eventSourceArn"].endswith(":stream/unit-events")
    assert mapping.inputs["batchSize"] == 50


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"firehose_buffer_seconds": 0}, "firehoseBufferSeconds"),
        ({"firehose_buffer_mb": 5}, "firehoseBufferMb"),
        ({"kinesis_mode": "fast"}, "kinesisMode"),
        ({"retention_days": 0}, "retentionDays"),
        ({"chalice_stage": "staging"}, "chaliceStage"),
        ({"alarm_email": "ops@example.com, oncall@example.com"}, "alarmEmail"),
        ({"alarm_email": "ops"}, "alarmEmail"),
    ],
)
def test_settings_aws_would_refuse_are_refused_before_anything_is_created(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StackSettings(stack="unit", **change).validate()


def test_readme_documents_every_config_key_with_its_default() -> None:
    readme = (ROOT / "README.md").read_text()
    defaults = StackSettings(stack="any")
    for key in CONFIG_KEYS:
        attribute = "".join(f"_{c.lower()}" if c.isupper() else c for c in key)
        default = getattr(defaults, attribute)
        shown = str(default).lower() if isinstance(default, bool) else str(default)
        if isinstance(default, tuple):
            shown = json.dumps(list(default))
        # A key with no default (unset unless configured) says so in words.
        row = f"| `{key}` | (unset) |" if default is None else f"| `{key}` | `{shown}` |"
        assert row in readme, f"README lacks a row for {key} with default {shown}"


def test_lambda_bundle_carries_every_requirement_of_the_app() -> None:
    import zipfile

    names = zipfile.ZipFile(package("dev").zip_path).namelist()
    requirements = (ROOT / "api" / "requirements.txt").read_text().splitlines()
    modules = {
        "orjson": "orjson/",
        "pyjwt": "jwt/",
        "cryptography": "cryptography/",
        "requests": "requests/",
        "msgspec": "msgspec/",
        "aws-lambda-powertools": "aws_lambda_powertools/",
    }
    for line in requirements:
        name = line.split("==")[0].split("[")[0].strip().lower()
        if name and not name.startswith("#"):
            assert any(n.startswith(modules[name]) for n in names), f"{name} is missing from the Lambda bundle"
    assert "app.py" in names
    assert "chalicelib/auth.py" in names
    # Compiled parts are Linux x86_64 builds for the Lambda runtime's Python.
    assert any(n.endswith("x86_64-linux-gnu.so") or n.endswith(".abi3.so") for n in names)


def monitoring_args(settings: StackSettings) -> Any:
    from infra.monitoring import MonitoringArgs

    return MonitoringArgs(
        settings=settings,
        account_id="123456789012",
        region="us-east-1",
        api_name="unit-api",
        stage="api",
        functions={"APIHandler": "unit-api-handler", "ReapOrphans": "unit-reap-orphans"},
        stream="unit-events",
        delivery_stream="unit-delivery",
        table="unit-table",
        access_table="unit-access",
        reaper_failures="unit-reaper-failures",
    )


@pytest.mark.parametrize("email", [None, "oncall@example.com"])
def test_alarm_email_is_subscribed_only_when_configured(mocks: RecordingMocks, email: str | None) -> None:
    from infra.monitoring import Monitoring

    @pulumi.runtime.test
    def declare() -> Any:
        return Monitoring("unit-monitoring", monitoring_args(StackSettings(stack="unit", alarm_email=email))).topic.arn

    declare()
    subscriptions = [r for r in mocks.created if r.typ == "aws:sns/topicSubscription:TopicSubscription"]
    topics = [r for r in mocks.created if r.typ == "aws:sns/topic:Topic"]
    assert len(topics) == 1, "the topic exists whether or not anyone subscribes"
    if email is None:
        assert subscriptions == []
    else:
        (subscription,) = subscriptions
        assert subscription.inputs["protocol"] == "email"
        assert subscription.inputs["endpoint"] == email
        assert subscription.inputs["topic"].startswith("arn:aws:sns:us-east-1:123456789012:unit-monitoring-alarms")


def test_alarm_email_is_read_from_stack_config() -> None:
    class Config:
        """The two getters ``from_config`` uses, over a plain dict."""

        def __init__(self, values: dict[str, str]) -> None:
            self.values = values

        def get(self, key: str) -> str | None:
            return self.values.get(key)

        get_int = get_float = get_bool = get_object = get

    assert StackSettings.from_config(Config({}), "unit").alarm_email is None
    configured = StackSettings.from_config(Config({"alarmEmail": "oncall@example.com"}), "unit")
    assert configured.alarm_email == "oncall@example.com"


def test_a_table_throttle_alarm_refuses_more_metrics_than_cloudwatch_allows() -> None:
    from infra.monitoring import MAX_ALARM_METRICS, throttle_queries

    operations = [f"Op{i}" for i in range(MAX_ALARM_METRICS)]
    with pytest.raises(ValueError, match="CloudWatch allows"):
        throttle_queries("unit-table", operations, ())
    queries = throttle_queries("unit-table", operations[: MAX_ALARM_METRICS - 2], ())
    assert len([q for q in queries if "metric" in q]) == MAX_ALARM_METRICS
