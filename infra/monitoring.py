"""Monitoring: the stack's alarms, the topic they notify, and one dashboard.

Every alarm watches a resource of this stack and notifies one SNS topic on ALARM and
on OK; docs/operations.md says what each alarm means and what to do about it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pulumi
import pulumi_aws as aws

from chalicelib.schema import INDEX_KEYS_BY_OWNER, INDEX_PENDING_COMPACTION, INDEX_RECORDINGS_BY_OWNER
from infra import policies
from infra.api import (
    COMPACTOR,
    CONSUMER,
    EXPIRY,
    EXPIRY_EVERY_SECONDS,
    FUNCTION_POLICIES,
    WATCHED_CONSUMER,
    Arns,
    kebab,
)
from infra.settings import StackSettings

# A CloudWatch metric math alarm may name at most this many metrics.
MAX_ALARM_METRICS = 10
# Counters of trouble (errors, throttles) are judged per minute, and alarm when three
# of the last five minutes saw any: one stray minute (a retried throttle, a cold
# dependency) stays quiet, a failure that persists is reported within five minutes.
TROUBLE_PERIOD = 60
TROUBLE_WINDOW = 5
TROUBLE_MINUTES = 3
# The stream's readers (the consumer and Firehose) read within seconds of a write; ten
# minutes behind is far beyond any batching on the way and still leaves the stream's
# 24 hours (at least) to catch up.
ITERATOR_AGE_LIMIT_MS = 10 * 60 * 1000
# Events are readable once the consumer has written them: a consumer a minute behind
# for five minutes means replay and live tail are no longer seconds-fresh.
CONSUMER_AGE_LIMIT_MS = 60 * 1000
CONSUMER_AGE_MINUTES = 5
# Without dynamic partitioning Firehose flushes the archive after its buffer interval;
# three of them (and never under fifteen minutes, for short buffers) means delivery
# is failing or retrying.
FRESHNESS_BUFFERS = 3
FRESHNESS_FLOOR_SECONDS = 15 * 60
# SQS reports a queue's metrics only while the queue is active: for up to six hours after
# it last held a message or was called (the SQS Developer Guide, "Available CloudWatch
# metrics for Amazon SQS"). A failure queue whose messages wait untouched therefore goes
# silent; judged "not breaching" its alarm would clear with the messages still there.
# "ignore" keeps the alarm's state through the silence: it clears only on a datapoint
# saying the queue is empty, which the re-drive (a call to the queue) produces.
QUEUE_MISSING_DATA = "ignore"


def freshness_threshold(buffer_seconds: int) -> int:
    """Seconds past which the archive's oldest undelivered record is a warning."""
    return max(FRESHNESS_BUFFERS * buffer_seconds, FRESHNESS_FLOOR_SECONDS)


@dataclass(frozen=True)
class AlarmSpec:
    """How one metric (or metric math expression) is judged; every alarm is built from one."""

    statistic: str
    threshold: float
    comparison: str = "GreaterThanOrEqualToThreshold"
    period: int = TROUBLE_PERIOD
    evaluation_periods: int = TROUBLE_WINDOW
    datapoints_to_alarm: int = TROUBLE_MINUTES
    # Most metrics here exist only while something happens (a request, a delivery,
    # a throttle): no data is no trouble.
    missing: str = "notBreaching"


TROUBLE = AlarmSpec(statistic="Sum", threshold=1)
# Any occurrence at all, judged per period (one minute unless replaced).
ANY_IN_ONE_PERIOD = AlarmSpec(
    statistic="Sum", threshold=0, comparison="GreaterThanThreshold", evaluation_periods=1, datapoints_to_alarm=1
)


@dataclass
class MonitoringArgs:
    """Inputs of the Monitoring component: the names CloudWatch knows this stack's resources by."""

    settings: StackSettings
    account_id: pulumi.Input[str]
    region: pulumi.Input[str]
    api_name: pulumi.Input[str]
    stage: pulumi.Input[str]
    # Function names by the logical id Chalice gave them (``APIHandler``, ``ConsumeEvents``, ...).
    functions: Mapping[str, pulumi.Input[str]]
    stream: pulumi.Input[str]
    delivery_stream: pulumi.Input[str]
    table: pulumi.Input[str]
    access_table: pulumi.Input[str]
    # The name of the orphan reaper's dead-letter queue.
    reaper_failures: pulumi.Input[str]
    # The name of the stream consumer's failure queue.
    consumer_failures: pulumi.Input[str]


def granted_operations(table_field: str) -> list[str]:
    """DynamoDB operations some function's policy allows on one table (an ``Arns`` field).

    ``ThrottledRequests`` exists per operation only, so the throttle alarm must name
    each operation; deriving them from the policies means a newly granted call is
    watched as soon as it can be made.
    """
    marker = Arns(
        bucket="bucket",
        table="table",
        access_table="access_table",
        stream="stream",
        log_group="log_group",
        reaper_failures="reaper_failures",
        consumer_failures="consumer_failures",
        user_pool="user_pool",
    )
    target = getattr(marker, table_field)
    operations: set[str] = set()
    for builder in FUNCTION_POLICIES.values():
        for statement in builder(marker):
            if any(resource == target or resource.startswith(f"{target}/") for resource in statement["Resource"]):
                operations |= {
                    action.removeprefix("dynamodb:") for action in statement["Action"] if action.startswith("dynamodb:")
                }
    return sorted(operations)


def alarm_prefix(settings: StackSettings) -> str:
    """Every alarm's name starts with this, so the topic and key can admit exactly this stack's alarms."""
    return f"{settings.prefix}-"


def key_policy(*, key_arn: str, account_id: str, alarm_arn_pattern: str) -> str:
    """The topic key: the account administers it (through IAM), this stack's alarms encrypt with it.

    The AWS-managed ``alias/aws/sns`` key cannot be used here: its policy is fixed and
    does not admit CloudWatch, whose notifications to a topic encrypted with it fail.
    """
    root = {"AWS": f"arn:aws:iam::{account_id}:root"}
    administration = policies.statement(
        [
            "kms:CancelKeyDeletion",
            "kms:Decrypt",
            "kms:DescribeKey",
            "kms:DisableKey",
            "kms:DisableKeyRotation",
            "kms:EnableKey",
            "kms:EnableKeyRotation",
            "kms:GenerateDataKey",
            "kms:GetKeyPolicy",
            "kms:GetKeyRotationStatus",
            "kms:ListKeyRotations",
            "kms:ListResourceTags",
            "kms:PutKeyPolicy",
            "kms:ScheduleKeyDeletion",
            "kms:TagResource",
            "kms:UntagResource",
            "kms:UpdateKeyDescription",
        ],
        [key_arn],
    )
    # SNS encrypts each notification under a data key it asks KMS for with GenerateDataKey
    # on the publisher's behalf. AWS's example policy for services publishing to encrypted
    # topics names "kms:GenerateDataKey*" (docs.aws.amazon.com/sns/latest/dg/sns-key-management.html),
    # which also admits GenerateDataKeyWithoutPlaintext and the key-pair actions: nothing
    # here uses them, and the project grants no wildcard actions.
    alarms = policies.statement(
        ["kms:Decrypt", "kms:GenerateDataKey"],
        [key_arn],
        StringEquals={"aws:SourceAccount": account_id},
        ArnLike={"aws:SourceArn": alarm_arn_pattern},
    )
    return policies.document(
        [
            {"Sid": "AccountAdministersThroughIam", "Principal": root, **administration},
            {"Sid": "StackAlarmsEncrypt", "Principal": {"Service": "cloudwatch.amazonaws.com"}, **alarms},
        ]
    )


def topic_policy(*, topic_arn: str, account_id: str, alarm_arn_pattern: str) -> str:
    """Only this stack's alarms publish through the service principal; people use IAM."""
    publish = policies.statement(
        ["sns:Publish"],
        [topic_arn],
        StringEquals={"aws:SourceAccount": account_id},
        ArnLike={"aws:SourceArn": alarm_arn_pattern},
    )
    return policies.document(
        [{"Sid": "StackAlarmsPublish", "Principal": {"Service": "cloudwatch.amazonaws.com"}, **publish}]
    )


class Monitoring(pulumi.ComponentResource):
    """Alarms on ingest, functions, the consumer, stream, archive, tables and failure queues."""

    topic: aws.sns.Topic
    alarms: dict[str, aws.cloudwatch.MetricAlarm]
    dashboard: aws.cloudwatch.Dashboard

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("rrweb:index:Monitoring", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)
        self._name = name
        self._prefix = alarm_prefix(settings)
        alarm_arn_pattern = pulumi.Output.all(args.region, args.account_id).apply(
            lambda a: f"arn:aws:cloudwatch:{a[0]}:{a[1]}:alarm:{self._prefix}*"
        )

        key = aws.kms.Key(
            f"{name}-topic-key",
            description=f"{settings.prefix}: alarm notifications",
            enable_key_rotation=True,
            # A PR stack's key goes with it; seven days is the shortest wait AWS allows.
            deletion_window_in_days=7,
            tags={"rrweb:stack": settings.stack},
            opts=child,
        )
        key_policy_resource = aws.kms.KeyPolicy(
            f"{name}-topic-key-policy",
            key_id=key.key_id,
            policy=pulumi.Output.all(key.arn, args.account_id, alarm_arn_pattern).apply(
                lambda a: key_policy(key_arn=a[0], account_id=a[1], alarm_arn_pattern=a[2])
            ),
            opts=child,
        )
        self.topic = aws.sns.Topic(
            f"{name}-alarms",
            kms_master_key_id=key.arn,
            tags={"rrweb:stack": settings.stack},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[key_policy_resource]),
        )
        aws.sns.TopicPolicy(
            f"{name}-alarms-policy",
            arn=self.topic.arn,
            policy=pulumi.Output.all(self.topic.arn, args.account_id, alarm_arn_pattern).apply(
                lambda a: topic_policy(topic_arn=a[0], account_id=a[1], alarm_arn_pattern=a[2])
            ),
            opts=child,
        )
        if settings.alarm_email:
            # Email subscriptions stay pending until the address confirms the link AWS sends.
            aws.sns.TopicSubscription(
                f"{name}-alarms-email",
                topic=self.topic.arn,
                protocol="email",
                endpoint=settings.alarm_email,
                opts=child,
            )

        self.alarms = {}
        self._ingest_alarms(args)
        self._function_alarms(args)
        self._consumer_alarms(args)
        self._stream_alarms(args)
        self._delivery_alarms(args)
        self._table_alarms(args)
        self._alarm(
            "reap-orphans-dead-letters",
            "An S3 notification the orphan reaper failed on, after retries, waits in its dead-letter queue.",
            AlarmSpec(
                statistic="Maximum",
                threshold=1,
                period=300,
                evaluation_periods=1,
                datapoints_to_alarm=1,
                missing=QUEUE_MISSING_DATA,
            ),
            metric=("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": args.reaper_failures}),
        )

        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            # Dashboards are named per account, not per region: the region keeps a stack's
            # dashboard from replacing another region's of the same stack name.
            dashboard_name=pulumi.Output.concat(settings.prefix, "-", args.region),
            dashboard_body=pulumi.Output.all(
                region=args.region,
                api=args.api_name,
                stage=args.stage,
                functions=dict(args.functions),
                stream=args.stream,
                delivery=args.delivery_stream,
                table=args.table,
                access_table=args.access_table,
                queue=args.reaper_failures,
                consumer_queue=args.consumer_failures,
                alarms=[alarm.arn for _, alarm in sorted(self.alarms.items())],
            ).apply(lambda values: dashboard_body(**values)),
            opts=child,
        )
        self.register_outputs(
            {
                "topic_arn": self.topic.arn,
                "dashboard": self.dashboard.dashboard_name,
                "alarms": [alarm.name for _, alarm in sorted(self.alarms.items())],
            }
        )

    def _alarm(
        self,
        role: str,
        description: str,
        spec: AlarmSpec,
        *,
        metric: tuple[str, str, Mapping[str, pulumi.Input[str]]] | None = None,
        queries: Sequence[aws.cloudwatch.MetricAlarmMetricQueryArgsDict] | None = None,
    ) -> aws.cloudwatch.MetricAlarm:
        """One alarm named ``<stack prefix>-<role>``, notifying the topic when it fires and when it clears."""
        single: dict[str, Any] = {}
        if metric is not None:
            namespace, metric_name, dimensions = metric
            single = {
                "namespace": namespace,
                "metric_name": metric_name,
                "dimensions": dict(dimensions),
                "statistic": spec.statistic,
                "period": spec.period,
            }
        alarm = aws.cloudwatch.MetricAlarm(
            f"{self._name}-{role}",
            name=f"{self._prefix}{role}",
            alarm_description=f"{description} See docs/operations.md#{role}.",
            comparison_operator=spec.comparison,
            threshold=spec.threshold,
            evaluation_periods=spec.evaluation_periods,
            datapoints_to_alarm=spec.datapoints_to_alarm,
            treat_missing_data=spec.missing,
            metric_queries=list(queries) if queries is not None else None,
            alarm_actions=[self.topic.arn],
            ok_actions=[self.topic.arn],
            opts=pulumi.ResourceOptions(parent=self),
            **single,
        )
        self.alarms[role] = alarm
        return alarm

    def _ingest_alarms(self, args: MonitoringArgs) -> None:
        self._alarm(
            "api-5xx",
            "The REST API answered with 5xx in three of the last five minutes.",
            TROUBLE,
            metric=("AWS/ApiGateway", "5XXError", {"ApiName": args.api_name, "Stage": args.stage}),
        )

    def _function_alarms(self, args: MonitoringArgs) -> None:
        # The consumer reports failed records in its answer and never raises for one, so
        # any error of its own (an exception, a timeout) is a fault to look at. The
        # compactor runs once per compactEveryMinutes: a three-minutes-of-five rule
        # would never see three failing runs, so any failed run alarms.
        every_run = args.settings.compact_every_minutes * 60
        errors = {
            CONSUMER: (ANY_IN_ONE_PERIOD, "failed (an unhandled error or a timeout) in the last minute"),
            WATCHED_CONSUMER: (ANY_IN_ONE_PERIOD, "failed (an unhandled error or a timeout) in the last minute"),
            COMPACTOR: (
                replace(ANY_IN_ONE_PERIOD, period=every_run),
                "failed (an unhandled error or a timeout) in its last run",
            ),
            # Hourly, like the compactor's rule: any failed run alarms.
            EXPIRY: (
                replace(ANY_IN_ONE_PERIOD, period=EXPIRY_EVERY_SECONDS),
                "failed (an unhandled error or a timeout) in its last run",
            ),
        }
        throttles = {
            COMPACTOR: (
                replace(ANY_IN_ONE_PERIOD, period=every_run),
                "was refused for lack of concurrency in its last run",
            ),
            EXPIRY: (
                replace(ANY_IN_ONE_PERIOD, period=EXPIRY_EVERY_SECONDS),
                "was refused for lack of concurrency in its last run",
            ),
        }
        for logical, function_name in sorted(args.functions.items()):
            role = kebab(logical)
            dimensions = {"FunctionName": function_name}
            spec, what = errors.get(
                logical, (TROUBLE, "failed (an unhandled error or a timeout) in three of the last five minutes")
            )
            self._alarm(f"{role}-errors", f"{logical} {what}.", spec, metric=("AWS/Lambda", "Errors", dimensions))
            spec, what = throttles.get(
                logical, (TROUBLE, "was refused for lack of concurrency in three of the last five minutes")
            )
            self._alarm(f"{role}-throttles", f"{logical} {what}.", spec, metric=("AWS/Lambda", "Throttles", dimensions))

    def _consumer_alarms(self, args: MonitoringArgs) -> None:
        if CONSUMER not in args.functions:
            return
        # Each consumer may be its own window behind, by design: a minute beyond it alarms.
        windows = {
            CONSUMER: args.settings.consumer_unwatched_window_seconds,
            WATCHED_CONSUMER: args.settings.consumer_batching_window_seconds,
        }
        for logical, window in windows.items():
            if logical not in args.functions:
                continue
            self._alarm(
                f"{kebab(logical)}-iterator-age",
                f"{logical} has been more than a minute behind its {window} s window for five minutes: "
                "new events are no longer readable when they should be.",
                AlarmSpec(
                    statistic="Maximum",
                    threshold=CONSUMER_AGE_LIMIT_MS + window * 1000,
                    comparison="GreaterThanThreshold",
                    period=60,
                    evaluation_periods=CONSUMER_AGE_MINUTES,
                    datapoints_to_alarm=CONSUMER_AGE_MINUTES,
                ),
                metric=("AWS/Lambda", "IteratorAge", {"FunctionName": args.functions[logical]}),
            )
        role = kebab(CONSUMER)
        self._alarm(
            f"{role}-failures",
            "The stream consumer skipped records (a batch given up after retries, or records it can never "
            "store); they are still in archive/ and a rebuild restores them.",
            AlarmSpec(
                statistic="Maximum",
                threshold=0,
                comparison="GreaterThanThreshold",
                period=300,
                evaluation_periods=1,
                datapoints_to_alarm=1,
                missing=QUEUE_MISSING_DATA,
            ),
            metric=("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": args.consumer_failures}),
        )

    def _stream_alarms(self, args: MonitoringArgs) -> None:
        dimensions = {"StreamName": args.stream}
        self._alarm(
            "stream-iterator-age",
            "A reader of the Kinesis stream (the consumer or the archive's Firehose) is more than ten minutes "
            "behind, or nothing reads it at all.",
            AlarmSpec(
                statistic="Maximum",
                threshold=ITERATOR_AGE_LIMIT_MS,
                comparison="GreaterThanThreshold",
                period=300,
                evaluation_periods=3,
                datapoints_to_alarm=3,
                # Firehose and Lambda poll every shard every second, so the metric
                # always has data while they read; none for fifteen minutes means
                # both stopped.
                missing="breaching",
            ),
            metric=("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", dimensions),
        )
        self._alarm(
            "stream-write-throttled",
            "PutRecords was throttled (records refused, the API answered 503) in three of the last five minutes.",
            TROUBLE,
            metric=("AWS/Kinesis", "WriteProvisionedThroughputExceeded", dimensions),
        )

    def _delivery_alarms(self, args: MonitoringArgs) -> None:
        # The archive is not on the replay path: a lagging archive delays rebuilds and
        # analytics, never replay. These alarms are warnings.
        dimensions = {"DeliveryStreamName": args.delivery_stream}
        threshold = freshness_threshold(args.settings.archive_buffer_seconds)
        self._alarm(
            "delivery-freshness",
            f"The oldest record waiting for the raw archive is older than {threshold} s "
            f"({FRESHNESS_BUFFERS} buffer intervals, at least {FRESHNESS_FLOOR_SECONDS // 60} minutes). "
            "A warning: replay does not read the archive, rebuilds and analytics lag behind.",
            AlarmSpec(
                statistic="Maximum",
                threshold=threshold,
                comparison="GreaterThanThreshold",
                period=300,
                evaluation_periods=2,
                datapoints_to_alarm=2,
            ),
            metric=("AWS/Firehose", "DeliveryToS3.DataFreshness", dimensions),
        )
        self._alarm(
            "delivery-failures",
            "Firehose failed some of its archive puts for fifteen minutes (it retries them; see the delivery logs). "
            "A warning: replay does not read the archive.",
            AlarmSpec(
                statistic="Average",
                threshold=1,
                comparison="LessThanThreshold",
                period=300,
                evaluation_periods=3,
                datapoints_to_alarm=3,
            ),
            metric=("AWS/Firehose", "DeliveryToS3.Success", dimensions),
        )

    def _table_alarms(self, args: MonitoringArgs) -> None:
        for role, table, table_field, indexes in (
            ("recordings", args.table, "table", (INDEX_RECORDINGS_BY_OWNER, INDEX_PENDING_COMPACTION)),
            ("access", args.access_table, "access_table", (INDEX_KEYS_BY_OWNER,)),
        ):
            operations = granted_operations(table_field)
            if len(operations) + 2 + 2 * len(indexes) <= MAX_ALARM_METRICS:
                self._alarm(
                    f"{role}-table-throttled",
                    f"DynamoDB throttled requests to the {role} table in three of the last five minutes.",
                    TROUBLE,
                    queries=throttle_queries(table, operations, indexes),
                )
                continue
            # Over CloudWatch's metrics per alarm: the indexes get an alarm of their own.
            self._alarm(
                f"{role}-table-throttled",
                f"DynamoDB throttled requests to the {role} table in three of the last five minutes.",
                TROUBLE,
                queries=throttle_queries(table, operations, ()),
            )
            self._alarm(
                f"{role}-indexes-throttled",
                f"DynamoDB throttled writes to the {role} table's indexes in three of the last five minutes "
                "(which throttles the table's writes too).",
                TROUBLE,
                queries=throttle_queries(table, (), indexes),
            )


def throttle_queries(
    table: pulumi.Input[str], operations: Sequence[str], global_indexes: Sequence[str]
) -> list[aws.cloudwatch.MetricAlarmMetricQueryArgsDict]:
    """Metric math: every throttle metric of one table (per operation, table and indexes), summed."""

    def metric(
        metric_name: str, dimensions: dict[str, pulumi.Input[str]]
    ) -> aws.cloudwatch.MetricAlarmMetricQueryMetricArgsDict:
        return {
            "namespace": "AWS/DynamoDB",
            "metric_name": metric_name,
            "dimensions": dimensions,
            "stat": "Sum",
            "period": TROUBLE_PERIOD,
        }

    metrics = [metric("ThrottledRequests", {"TableName": table, "Operation": op}) for op in operations]
    metrics += [metric(name, {"TableName": table}) for name in ("ReadThrottleEvents", "WriteThrottleEvents")]
    metrics += [
        metric(name, {"TableName": table, "GlobalSecondaryIndexName": index})
        for index in global_indexes
        for name in ("ReadThrottleEvents", "WriteThrottleEvents")
    ]
    if len(metrics) > MAX_ALARM_METRICS:
        raise ValueError(f"a throttle alarm would name {len(metrics)} metrics; CloudWatch allows {MAX_ALARM_METRICS}")
    ids = [f"m{i}" for i in range(len(metrics))]
    queries: list[aws.cloudwatch.MetricAlarmMetricQueryArgsDict] = [
        {"id": i, "metric": m, "return_data": False} for i, m in zip(ids, metrics, strict=True)
    ]
    queries.append(
        {"id": "throttled", "expression": f"SUM([{','.join(ids)}])", "label": "throttled", "return_data": True}
    )
    return queries


def dashboard_body(
    *,
    region: str,
    api: str,
    stage: str,
    functions: dict[str, str],
    stream: str,
    delivery: str,
    table: str,
    access_table: str,
    queue: str,
    consumer_queue: str,
    alarms: list[str],
) -> str:
    """The stack's dashboard: one row per stage of the data path, alarm states on top."""
    api_dims = ["ApiName", api, "Stage", stage]
    names = sorted(functions.values())
    consumer = functions.get(CONSUMER)
    rows: list[list[dict[str, Any]]] = [
        [_alarm_widget("Alarms", alarms)],
        [
            _widget("Ingest requests", "Sum", [["AWS/ApiGateway", "Count", *api_dims]]),
            _widget(
                "Ingest latency (ms)",
                "p99",
                [
                    ["AWS/ApiGateway", "Latency", *api_dims, {"stat": "p50", "label": "p50"}],
                    ["AWS/ApiGateway", "Latency", *api_dims, {"label": "p99"}],
                    ["AWS/ApiGateway", "IntegrationLatency", *api_dims, {"label": "integration p99"}],
                ],
            ),
            _widget(
                "API errors",
                "Sum",
                [["AWS/ApiGateway", "5XXError", *api_dims], ["AWS/ApiGateway", "4XXError", *api_dims]],
            ),
        ],
        [
            _widget("Lambda errors", "Sum", [["AWS/Lambda", "Errors", "FunctionName", n] for n in names]),
            _widget("Lambda duration p99 (ms)", "p99", [["AWS/Lambda", "Duration", "FunctionName", n] for n in names]),
            _widget("Lambda throttles", "Sum", [["AWS/Lambda", "Throttles", "FunctionName", n] for n in names]),
            _widget(
                "Lambda concurrency",
                "Maximum",
                [["AWS/Lambda", "ConcurrentExecutions", "FunctionName", n] for n in names],
            ),
        ],
        [
            _widget(
                "Stream incoming",
                "Sum",
                [
                    ["AWS/Kinesis", "IncomingRecords", "StreamName", stream],
                    ["AWS/Kinesis", "IncomingBytes", "StreamName", stream, {"yAxis": "right"}],
                ],
            ),
            _widget(
                "Stream iterator age (ms)",
                "Maximum",
                [["AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", "StreamName", stream]],
            ),
            _widget(
                "Stream throttles",
                "Sum",
                [
                    ["AWS/Kinesis", "WriteProvisionedThroughputExceeded", "StreamName", stream],
                    ["AWS/Kinesis", "ReadProvisionedThroughputExceeded", "StreamName", stream],
                ],
            ),
        ],
        [
            _widget(
                "Consumer iterator age (ms)",
                "Maximum",
                [["AWS/Lambda", "IteratorAge", "FunctionName", n] for n in ([consumer] if consumer else [])],
            ),
            _widget(
                "Consumer failures (queued)",
                "Maximum",
                [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", consumer_queue]],
            ),
            _widget(
                "Archive freshness (s)",
                "Maximum",
                [["AWS/Firehose", "DeliveryToS3.DataFreshness", "DeliveryStreamName", delivery]],
            ),
            _widget(
                "Archive delivery success",
                "Average",
                [["AWS/Firehose", "DeliveryToS3.Success", "DeliveryStreamName", delivery]],
            ),
        ],
        [
            _widget(
                "Table consumed capacity",
                "Sum",
                [
                    ["AWS/DynamoDB", metric, "TableName", name]
                    for name in (table, access_table)
                    for metric in ("ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits")
                ],
            ),
            _widget(
                "Table throttles",
                "Sum",
                [
                    ["AWS/DynamoDB", metric, "TableName", name]
                    for name in (table, access_table)
                    for metric in ("ReadThrottleEvents", "WriteThrottleEvents")
                ],
            ),
            _widget(
                "Reaper dead letters",
                "Maximum",
                [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue]],
            ),
        ],
    ]
    # Rows of equal-width widgets across the dashboard's 24 columns; metric widgets
    # must name their region.
    widgets = []
    for y, row in enumerate(rows):
        width = 24 // len(row)
        for x, widget in enumerate(row):
            if widget["type"] == "metric":
                widget["properties"]["region"] = region
            widgets.append({**widget, "x": x * width, "y": y * 6, "width": width, "height": 6})
    return json.dumps({"widgets": widgets}, sort_keys=True)


def _widget(title: str, stat: str, metrics: list[list[Any]]) -> dict[str, Any]:
    return {
        "type": "metric",
        "properties": {"title": title, "view": "timeSeries", "stat": stat, "period": 60, "metrics": metrics},
    }


def _alarm_widget(title: str, alarms: list[str]) -> dict[str, Any]:
    return {"type": "alarm", "properties": {"title": title, "alarms": alarms}}
