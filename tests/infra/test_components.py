"""Components in process under Pulumi's mocks (the official unit-test mode)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pulumi
import pytest

from infra.packaging import ChalicePackage, package
from infra.settings import CONFIG_KEYS, StackSettings
from tests.infra.inventory import Mocks, physical_name

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


def api_args(template: dict[str, Any], settings: StackSettings | None = None) -> Any:
    from infra.api import ApiArgs

    real = package("dev")
    return ApiArgs(
        settings=settings or StackSettings(stack="unit"),
        package=ChalicePackage(zip_path=real.zip_path, template=template, source_hash=real.source_hash),
        bucket="unit-bucket",
        bucket_arn="arn:aws:s3:::unit-bucket",
        table="unit-table",
        table_arn="arn:aws:dynamodb:us-east-1:123456789012:table/unit-table",
        access_table="unit-access",
        access_table_arn="arn:aws:dynamodb:us-east-1:123456789012:table/unit-access",
        user_pool_id="us-east-1_unit",
        user_pool_arn="arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_unit",
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


def declare_api(mocks: RecordingMocks, template: dict[str, Any], settings: StackSettings) -> list[Any]:
    """Build the Api component; returns what it created once all of it is registered."""
    from infra.api import Api

    @pulumi.runtime.test
    def declare() -> Any:
        return Api("unit-api", api_args(template, settings)).url

    # Checked once the whole component is registered: nothing orders the triggers before
    # the API's URL, so a check inside an apply on the URL could run before they exist.
    declare()
    return mocks.created


def of_type(created: list[Any], typ: str) -> list[Any]:
    return [r for r in created if r.typ == typ]


def named(resource: Any) -> str:
    """The name AWS would see for a created resource (explicit, or Pulumi's auto-name)."""
    return physical_name(resource.typ, resource.name, resource.inputs)


# Every consumer setting differs from its default and from what the decorator says
# (batch_size=500, maximum_batching_window_in_seconds=1), so a value taken from the
# wrong place shows.
CONSUMER_SETTINGS: dict[str, Any] = {
    "consumer_batch_size": 123,
    "consumer_batching_window_seconds": 7,
    "consumer_parallelization": 3,
    "consumer_unwatched_window_seconds": 45,
    "consumer_unwatched_parallelization": 9,
    "consumer_max_retries": 4,
    "consumer_max_record_age_seconds": 3600,
}


def test_the_stream_consumer_is_mapped_to_the_stacks_stream_with_the_stacks_settings(mocks: RecordingMocks) -> None:
    template = copy.deepcopy(package("dev").template)
    for logical in ("ConsumeEvents", "ConsumeWatchedEvents"):
        (kinesis,) = template["Resources"][logical]["Properties"]["Events"].values()
        assert kinesis["Type"] == "Kinesis", "the app's consumers are declared with @app.on_kinesis_record"
    created = declare_api(mocks, template, StackSettings(stack="unit", **CONSUMER_SETTINGS))
    mappings = {
        mapping.inputs["functionName"].rsplit(":", 1)[-1]: mapping.inputs
        for mapping in of_type(created, "aws:lambda/eventSourceMapping:EventSourceMapping")
    }
    assert set(mappings) == {"rrweb-s3-storage-unit-consume-events", "rrweb-s3-storage-unit-consume-watched-events"}
    (queue,) = [q for q in of_type(created, "aws:sqs/queue:Queue") if q.name == "unit-api-consume-events-failures"]
    for inputs in mappings.values():
        # The stack's stream, not the one the decorator names.
        assert inputs["eventSourceArn"] == "arn:aws:kinesis:us-east-1:123456789012:stream/unit-events"
        assert inputs["startingPosition"] == "TRIM_HORIZON"
        assert inputs["batchSize"] == 123
        assert inputs["maximumRetryAttempts"] == 4
        assert inputs["maximumRecordAgeInSeconds"] == 3600
        assert inputs["bisectBatchOnFunctionError"] is True
        assert inputs["functionResponseTypes"] == ["ReportBatchItemFailures"]
        assert inputs["destinationConfig"] == {
            "onFailure": {"destinationArn": f"arn:aws:sqs:us-east-1:123456789012:{named(queue)}"}
        }
    # Each consumer takes its own records, by the record's live mark, on its own window.
    watched = mappings["rrweb-s3-storage-unit-consume-watched-events"]
    assert watched["maximumBatchingWindowInSeconds"] == 7
    assert watched["parallelizationFactor"] == 3
    assert [json.loads(f["pattern"]) for f in watched["filterCriteria"]["filters"]] == [{"data": {"live": [True]}}]
    unwatched = mappings["rrweb-s3-storage-unit-consume-events"]
    assert unwatched["maximumBatchingWindowInSeconds"] == 45
    assert unwatched["parallelizationFactor"] == 9
    assert [json.loads(f["pattern"]) for f in unwatched["filterCriteria"]["filters"]] == [
        {"data": {"live": [{"exists": False}]}}
    ]
    assert queue.inputs["sqsManagedSseEnabled"] is True
    assert queue.inputs["messageRetentionSeconds"] == 14 * 24 * 3600


def test_functions_learn_the_failure_queue_and_the_idle_time_before_compaction(mocks: RecordingMocks) -> None:
    template = copy.deepcopy(package("dev").template)
    created = declare_api(
        mocks, template, StackSettings(stack="unit", compact_idle_minutes=45, consumer_unwatched_window_seconds=90)
    )
    (queue,) = [q for q in of_type(created, "aws:sqs/queue:Queue") if q.name == "unit-api-consume-events-failures"]
    functions = {f.name: f.inputs for f in of_type(created, "aws:lambda/function:Function")}
    for logical in ("consume-events", "compact-recordings"):
        variables = functions[f"unit-api-{logical}"]["environment"]["variables"]
        assert (
            variables["RRWEB_FAILURE_QUEUE_URL"] == f"https://sqs.us-east-1.amazonaws.com/123456789012/{named(queue)}"
        )
        assert variables["RRWEB_COMPACT_IDLE_SECONDS"] == "2700"
    # The API says how late an unwatched recording's events may arrive (live, settlesAt).
    assert functions["unit-api-ingest"]["environment"]["variables"]["RRWEB_UNWATCHED_WINDOW_SECONDS"] == "90"


@pytest.mark.parametrize(
    ("minutes", "expression"), [(1, "rate(1 minute)"), (5, "rate(5 minutes)"), (17, "rate(17 minutes)")]
)
def test_the_compactor_runs_on_the_stacks_schedule(mocks: RecordingMocks, minutes: int, expression: str) -> None:
    template = copy.deepcopy(package("dev").template)
    (schedule,) = template["Resources"]["CompactRecordings"]["Properties"]["Events"].values()
    assert schedule["Type"] == "Schedule", "the app's compactor is declared with @app.schedule"
    created = declare_api(mocks, template, StackSettings(stack="unit", compact_every_minutes=minutes))
    compactor = "rrweb-s3-storage-unit-compact-recordings"
    (rule,) = [r for r in of_type(created, "aws:cloudwatch/eventRule:EventRule") if r.inputs["name"] == compactor]
    (target,) = [
        t for t in of_type(created, "aws:cloudwatch/eventTarget:EventTarget") if t.inputs["rule"] == named(rule)
    ]
    (permission,) = [
        p
        for p in of_type(created, "aws:lambda/permission:Permission")
        if p.inputs["principal"] == "events.amazonaws.com" and p.inputs["function"] == compactor
    ]
    assert rule.inputs["scheduleExpression"] == expression
    assert target.inputs["rule"] == named(rule)
    assert target.inputs["arn"] == f"arn:aws:lambda:us-east-1:123456789012:function:{compactor}"
    assert permission.inputs["action"] == "lambda:InvokeFunction"
    assert permission.inputs["function"] == compactor
    assert permission.inputs["sourceArn"] == f"arn:aws:events:us-east-1:123456789012:rule/{named(rule)}"


def test_an_event_type_the_program_does_not_wire_is_refused(mocks: RecordingMocks) -> None:
    from infra.api import Api

    template = copy.deepcopy(package("dev").template)
    template["Resources"]["ReapOrphans"]["Properties"]["Events"] = {
        "Queue": {"Type": "SQS", "Properties": {"Queue": "arn:aws:sqs:us-east-1:123456789012:q"}}
    }
    with pytest.raises(ValueError, match=r"ReapOrphans\.Queue: event type SQS is not wired"):
        Api("unit-api", api_args(template))


@pulumi.runtime.test
def test_bucket_reads_are_allowed_from_the_site_only_and_uploads_from_anywhere(mocks: RecordingMocks) -> Any:
    from infra.storage import Storage, StorageArgs

    storage = Storage("unit-storage", StorageArgs(settings=StackSettings(stack="unit")))
    cors = storage.allow_site_reads(
        [pulumi.Output.from_input("https://d111.cloudfront.net/"), "https://app.example.com"]
    )
    with pytest.raises(ValueError, match="already set"):
        storage.allow_site_reads(["https://other.example.com"])

    def check(values: list[Any]) -> None:
        urn, rules = values
        by_methods = {tuple(rule["allowed_methods"]): rule for rule in rules}
        assert set(by_methods) == {("POST", "PUT"), ("GET", "HEAD")}, urn
        reads = by_methods[("GET", "HEAD")]
        assert reads["allowed_origins"] == ["https://app.example.com", "https://d111.cloudfront.net"], urn
        assert reads["allowed_headers"] == ["Range"], urn
        assert set(reads["expose_headers"]) == {"Content-Range", "Content-Length", "ETag"}, urn
        assert by_methods[("POST", "PUT")]["allowed_origins"] == ["*"], urn

    return pulumi.Output.all(cors.urn, cors.cors_rules).apply(check)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"archive_buffer_seconds": 901}, "archiveBufferSeconds"),
        ({"archive_buffer_seconds": -1}, "archiveBufferSeconds"),
        ({"archive_buffer_mb": 0}, "archiveBufferMb"),
        ({"archive_buffer_mb": 129}, "archiveBufferMb"),
        ({"archive_retention_days": 0}, "archiveRetentionDays"),
        ({"archive_retention_days": 31}, "archiveRetentionDays"),
        ({"consumer_batching_window_seconds": 301}, "consumerBatchingWindowSeconds"),
        ({"consumer_parallelization": 0}, "consumerParallelization"),
        ({"consumer_parallelization": 11}, "consumerParallelization"),
        ({"consumer_batch_size": 0}, "consumerBatchSize"),
        ({"consumer_batch_size": 10001}, "consumerBatchSize"),
        ({"consumer_max_retries": -1}, "consumerMaxRetries"),
        ({"consumer_max_retries": 10001}, "consumerMaxRetries"),
        ({"consumer_max_record_age_seconds": 59}, "consumerMaxRecordAgeSeconds"),
        ({"consumer_max_record_age_seconds": 604801}, "consumerMaxRecordAgeSeconds"),
        # Longer than the stream keeps records (24 hours by default).
        ({"consumer_max_record_age_seconds": 86401}, "consumerMaxRecordAgeSeconds"),
        ({"compact_idle_minutes": 4}, "compactIdleMinutes"),
        ({"compact_every_minutes": 0}, "compactEveryMinutes"),
        ({"compact_every_minutes": 61}, "compactEveryMinutes"),
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


def test_the_limits_aws_accepts_are_accepted() -> None:
    changes: tuple[dict[str, Any], ...] = (
        {"archive_buffer_seconds": 0, "archive_buffer_mb": 1},
        {"archive_buffer_seconds": 900, "archive_buffer_mb": 128},
        {"consumer_batching_window_seconds": 0, "consumer_parallelization": 10, "consumer_batch_size": 10000},
        {"consumer_max_retries": 0, "consumer_max_record_age_seconds": 60},
        {"kinesis_retention_hours": 168, "consumer_max_record_age_seconds": 604800},
        {"compact_idle_minutes": 5, "compact_every_minutes": 1},
        {"archive_retention_days": 30},
    )
    for change in changes:
        StackSettings(stack="unit", **change).validate()


def test_deploy_page_documents_every_config_key_with_its_default() -> None:
    page = (ROOT / "docs" / "deploy.md").read_text()
    defaults = StackSettings(stack="any")
    for key in CONFIG_KEYS:
        attribute = "".join(f"_{c.lower()}" if c.isupper() else c for c in key)
        default = getattr(defaults, attribute)
        shown = str(default).lower() if isinstance(default, bool) else str(default)
        if isinstance(default, tuple):
            shown = json.dumps(list(default))
        # A key with no default (unset unless configured) says so in words.
        row = f"| `{key}` | (unset) |" if default is None else f"| `{key}` | `{shown}` |"
        assert row in page, f"docs/deploy.md lacks a row for {key} with default {shown}"
    # ... and no row for a key the program no longer reads.
    table = page.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([A-Za-z]+)` \|", table, flags=re.MULTILINE))
    assert listed == set(CONFIG_KEYS), f"docs/deploy.md's table differs: {sorted(listed ^ set(CONFIG_KEYS))}"


def test_lambda_bundle_carries_every_requirement_of_the_app() -> None:
    import zipfile

    names = zipfile.ZipFile(package("dev").zip_path).namelist()
    requirements = (ROOT / "api" / "requirements.in").read_text().splitlines()
    modules = {
        "orjson": "orjson/",
        "pyjwt": "jwt/",
        "cryptography": "cryptography/",
        "requests": "requests/",
        "msgspec": "msgspec/",
        "aws-lambda-powertools": "aws_lambda_powertools/",
        "boto3": "boto3/",
    }
    for line in requirements:
        name = line.split("==")[0].split("[")[0].strip().lower()
        if name and not name.startswith("#"):
            assert any(n.startswith(modules[name]) for n in names), f"{name} is missing from the Lambda bundle"
    assert "app.py" in names
    assert "chalicelib/auth.py" in names
    # Compiled parts are Linux arm64 builds for the default runtime's Python (lambdaRuntime).
    assert any(n.endswith("cpython-313-aarch64-linux-gnu.so") for n in names)
    assert not any(n.endswith("x86_64-linux-gnu.so") for n in names)


def monitoring_args(settings: StackSettings) -> Any:
    from infra.monitoring import MonitoringArgs

    return MonitoringArgs(
        settings=settings,
        account_id="123456789012",
        region="us-east-1",
        api_name="unit-api",
        stage="api",
        functions={
            "APIHandler": "unit-api-handler",
            "ReapOrphans": "unit-reap-orphans",
            "ConsumeEvents": "unit-consume-events",
            "CompactRecordings": "unit-compact-recordings",
        },
        stream="unit-events",
        delivery_stream="unit-delivery",
        table="unit-table",
        access_table="unit-access",
        reaper_failures="unit-reaper-failures",
        consumer_failures="unit-consumer-failures",
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

    # A stand-in with only the getters from_config calls, as in tests/unit/test_config_keys.py.
    assert StackSettings.from_config(Config({}), "unit").alarm_email is None  # type: ignore[arg-type]
    configured = StackSettings.from_config(Config({"alarmEmail": "oncall@example.com"}), "unit")  # type: ignore[arg-type]
    assert configured.alarm_email == "oncall@example.com"


def test_a_table_throttle_alarm_refuses_more_metrics_than_cloudwatch_allows() -> None:
    from infra.monitoring import MAX_ALARM_METRICS, throttle_queries

    operations = [f"Op{i}" for i in range(MAX_ALARM_METRICS)]
    with pytest.raises(ValueError, match="CloudWatch allows"):
        throttle_queries("unit-table", operations, ())
    queries = throttle_queries("unit-table", operations[: MAX_ALARM_METRICS - 2], ())
    assert len([q for q in queries if "metric" in q]) == MAX_ALARM_METRICS
