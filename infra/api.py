"""API: the Lambda functions Chalice packages and the REST API Chalice defines."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from chalicelib import environment as env
from chalicelib import function_url, layout, records
from chalicelib.schema import (
    INDEX_BY_PARENT,
    INDEX_KEYS_BY_OWNER,
    INDEX_PENDING_COMPACTION,
    INDEX_RECORDINGS_BY_OWNER,
    INDEX_RECORDINGS_BY_USER,
)
from infra import policies
from infra.packaging import ChalicePackage
from infra.settings import StackSettings

STAGE = "api"
# The functions the data path is built on (Chalice's logical ids for ``consume_events``
# and ``compact_recordings``); monitoring watches them by these names.
CONSUMER = "ConsumeEvents"
# The watched recordings' consumer (``consume_watched_events``): the same code on its own
# event source mapping, a second's window (docs/architecture.md, "Two consumers").
WATCHED_CONSUMER = "ConsumeWatchedEvents"
COMPACTOR = "CompactRecordings"
# The retention expiry (``expire_recordings``), on the hourly rule the app declares.
EXPIRY = "ExpireRecordings"
# The recorder's door (``ingest``): the same routes as the REST API's recorder routes,
# behind a Lambda function URL, which bills nothing per request (chalicelib/function_url.py).
INGEST = "Ingest"
EXPIRY_EVERY_SECONDS = 3600
# The reaper runs on S3 notifications, which Lambda invokes asynchronously: a failed
# event is retried this often, then kept in the dead-letter queue for a re-drive
# (docs/operations.md). An hour bounds how long a throttled event may wait before it
# is set aside, so a stuck reaper shows up in the queue (and its alarm) within the hour.
REAPER_RETRIES = 2
REAPER_MAX_EVENT_AGE_SECONDS = 3600
# AWS's managed policy for API Gateway's account-wide logging role.
API_GATEWAY_PUSH_TO_CLOUDWATCH_LOGS = "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
# SQS's longest retention: two weeks to notice the alarm and re-drive.
DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 3600
# The origin secret (clients.py): letters and digits only, so it travels as a header
# value unchanged; 48 of them are about 285 bits, beyond any guessing.
ORIGIN_SECRET_LENGTH = 48
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "requestTime": "$context.requestTimeEpoch",
        "method": "$context.httpMethod",
        "path": "$context.resourcePath",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "latencyMs": "$context.responseLatency",
        "integrationError": "$context.integration.error",
    }
)


@dataclass
class ApiArgs:
    """Inputs of the Api component."""

    settings: StackSettings
    package: ChalicePackage
    bucket: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    table: pulumi.Input[str]
    table_arn: pulumi.Input[str]
    access_table: pulumi.Input[str]
    access_table_arn: pulumi.Input[str]
    user_pool_id: pulumi.Input[str]
    user_pool_arn: pulumi.Input[str]
    user_pool_client_id: pulumi.Input[str]
    stream: pulumi.Input[str]
    stream_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]
    region: pulumi.Input[str]


@dataclass(frozen=True)
class Arns:
    """The exact resources a function's policy may name."""

    bucket: str
    table: str
    access_table: str
    stream: str
    log_group: str
    reaper_failures: str
    consumer_failures: str
    user_pool: str


def api_handler_policy(arns: Arns) -> list[dict[str, Any]]:
    """The HTTP API: recordings table, writes to the stream, its owners' objects."""
    return [
        # Recordings and their batches' idempotency items (a deleted recording's item is
        # replaced by a bare tombstone, never deleted by the API).
        policies.statement(
            ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], [arns.table]
        ),
        # A workspace's recordings, and one identified visitor's (deleting a person).
        policies.statement(
            ["dynamodb:Query"],
            [f"{arns.table}/index/{INDEX_RECORDINGS_BY_OWNER}", f"{arns.table}/index/{INDEX_RECORDINGS_BY_USER}"],
        ),
        # Ingest keys (create, list with their purpose, revoke, verify; a purpose key and
        # its pointer are one transaction of two puts), the rate-limit counters, and
        # workspaces with their members (a membership is two items, put or deleted in one
        # transaction: each item's own action covers it).
        policies.statement(
            [
                "dynamodb:BatchGetItem",
                "dynamodb:DeleteItem",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
            ],
            [arns.access_table],
        ),
        policies.statement(
            ["dynamodb:Query"],
            [f"{arns.access_table}/index/{INDEX_KEYS_BY_OWNER}", f"{arns.access_table}/index/{INDEX_BY_PARENT}"],
        ),
        policies.statement(["kinesis:PutRecords"], [arns.stream]),
        # An invite gives an address without an account one (Cognito emails its temporary
        # password), after looking it up: nothing else of the pool's admin API.
        policies.statement(["cognito-idp:AdminCreateUser", "cognito-idp:AdminGetUser"], [arns.user_pool]),
        # ListBucket on the whole bucket, with no s3:prefix condition: S3 answers a GetObject
        # of a missing key with 404 NoSuchKey only to a caller allowed to list the bucket, and
        # the condition fails there (a GetObject has no s3:prefix), so the answer would be 403
        # AccessDenied and the reader's "listed, then compacted away" retry, which looks for a
        # 404, would fail the request. The bucket holds only this stack's keys.
        policies.statement(["s3:ListBucket"], [arns.bucket]),
        # PutObject signs the browser's presigned screenshot upload.
        policies.statement(
            ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"], [f"{arns.bucket}/{layout.RECORDINGS_ROOT}*"]
        ),
        # Page assets: whether the owner holds one (HeadObject is GetObject's), the
        # presigned uploads and reads it signs, and the lease's copy in place. Never
        # deleted by the API: the lifecycle does that.
        policies.statement(["s3:GetObject", "s3:PutObject"], [f"{arns.bucket}/{layout.ASSETS_ROOT}*"]),
    ]


def ingest_policy(arns: Arns) -> list[dict[str, Any]]:
    """The recorder's door: create and append (recordings table, stream), its key and budgets, its assets."""
    return [
        # A recording, its batches' idempotency items, its visitor; never a delete.
        policies.statement(
            ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], [arns.table]
        ),
        # The ingest key, its controls and troubles (last use, refused origins, blocks),
        # and the rate-limit counters; never a delete, never a query.
        policies.statement(
            ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            [arns.access_table],
        ),
        policies.statement(["kinesis:PutRecords"], [arns.stream]),
        # As for the API (see there): a missing asset's HeadObject answers 404 only to a
        # caller allowed to list the bucket.
        policies.statement(["s3:ListBucket"], [arns.bucket]),
        # PutObject signs the browser's presigned screenshot upload (nothing is read or deleted).
        policies.statement(["s3:PutObject"], [f"{arns.bucket}/{layout.RECORDINGS_ROOT}*"]),
        # Page assets: whether the owner holds one, the presigned uploads it signs, the
        # lease's copy in place.
        policies.statement(["s3:GetObject", "s3:PutObject"], [f"{arns.bucket}/{layout.ASSETS_ROOT}*"]),
    ]


def reaper_policy(arns: Arns) -> list[dict[str, Any]]:
    """The reaper: look a recording up, note its screenshot, delete a late object, set a failed event aside."""
    return [
        # UpdateItem sets a recording's screenshotAt when the browser's upload lands.
        policies.statement(["dynamodb:GetItem", "dynamodb:UpdateItem"], [arns.table]),
        policies.statement(["s3:DeleteObject"], [f"{arns.bucket}/{layout.RECORDINGS_ROOT}*"]),
        # Lambda sends a failed asynchronous event to the on-failure destination with
        # the function's own role.
        policies.statement(["sqs:SendMessage"], [arns.reaper_failures]),
    ]


def consumer_policy(arns: Arns) -> list[dict[str, Any]]:
    """The stream consumer: read the stream, count into a recording's item, write its chunks.

    Lambda's event source mapping polls the stream with the function's own role, and
    sends a batch it gave up on to the on-failure destination with it too; the consumer
    itself reports records it can never store to the same queue.
    """
    return [
        policies.statement(
            [
                "kinesis:DescribeStream",
                "kinesis:DescribeStreamSummary",
                "kinesis:GetRecords",
                "kinesis:GetShardIterator",
                "kinesis:ListShards",
            ],
            [arns.stream],
        ),
        policies.statement(["dynamodb:GetItem", "dynamodb:UpdateItem"], [arns.table]),
        # Its chunks; and a chunk it wrote for a recording deleted meanwhile, deleted again.
        policies.statement(["s3:DeleteObject", "s3:PutObject"], [f"{arns.bucket}/{layout.RECORDINGS_ROOT}*"]),
        policies.statement(["sqs:SendMessage"], [arns.consumer_failures]),
    ]


def compactor_policy(arns: Arns) -> list[dict[str, Any]]:
    """The compactor: find idle recordings through the sparse index, rewrite their objects."""
    return [
        policies.statement(["dynamodb:Query"], [f"{arns.table}/index/{INDEX_PENDING_COMPACTION}"]),
        policies.statement(["dynamodb:GetItem", "dynamodb:UpdateItem"], [arns.table]),
        # Unconditional, as for the API (a missing key must read as 404, not 403).
        policies.statement(["s3:ListBucket"], [arns.bucket]),
        policies.statement(
            ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"], [f"{arns.bucket}/{layout.RECORDINGS_ROOT}*"]
        ),
    ]


def expiry_policy(arns: Arns) -> list[dict[str, Any]]:
    """The retention expiry: find workspaces with their own retention, delete their old recordings as the API does."""
    return [
        policies.statement(["dynamodb:Query"], [f"{arns.access_table}/index/{INDEX_BY_PARENT}"]),
        policies.statement(["dynamodb:Query"], [f"{arns.table}/index/{INDEX_RECORDINGS_BY_OWNER}"]),
        # Read the page's items, tombstone each, then leave the bare tombstone (a put).
        policies.statement(
            ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], [arns.table]
        ),
        # Unconditional, as for the API (see there): the recording's objects are listed to delete them.
        policies.statement(["s3:ListBucket"], [arns.bucket]),
        policies.statement(["s3:DeleteObject"], [f"{arns.bucket}/{layout.RECORDINGS_ROOT}*"]),
    ]


# Every function Chalice packages must be listed here with its exact needs: a new
# handler without an entry fails the deployment instead of running with broad rights.
FUNCTION_POLICIES: dict[str, Callable[[Arns], list[dict[str, Any]]]] = {
    "APIHandler": api_handler_policy,
    INGEST: ingest_policy,
    "ReapOrphans": reaper_policy,
    CONSUMER: consumer_policy,
    WATCHED_CONSUMER: consumer_policy,
    COMPACTOR: compactor_policy,
    EXPIRY: expiry_policy,
}


# The stage throttle answers 429 itself, before any function runs: like every 429 of
# the API it carries Retry-After and the API's error shape, and any page may read it
# (the recorder runs on other origins and backs off by it).
GATEWAY_RESPONSES = {
    "THROTTLED": {
        "statusCode": 429,
        "responseParameters": {
            "gatewayresponse.header.Retry-After": "'1'",
            "gatewayresponse.header.Access-Control-Allow-Origin": "'*'",
            "gatewayresponse.header.Access-Control-Expose-Headers": "'Retry-After'",
        },
        "responseTemplates": {
            "application/json": json.dumps(
                {"error": {"code": "throttled", "message": "the API's request rate limit was reached; retry later"}}
            )
        },
    },
    # A path (or a path's method) no route has: API Gateway's own answer is a 403
    # "Missing Authentication Token"; the API's is a 404 in its error shape, as the
    # local stack answers it.
    "MISSING_AUTHENTICATION_TOKEN": {
        "statusCode": 404,
        "responseParameters": {"gatewayresponse.header.Access-Control-Allow-Origin": "'*'"},
        "responseTemplates": {"application/json": json.dumps(function_url.NOT_FOUND)},
    },
    # A body above API Gateway's own request limit never reaches the function (the
    # local stack refuses what the app would, before reading it, with the same code).
    "REQUEST_TOO_LARGE": {
        "statusCode": 413,
        "responseParameters": {"gatewayresponse.header.Access-Control-Allow-Origin": "'*'"},
        "responseTemplates": {
            "application/json": json.dumps(
                {"error": {"code": "body_too_large", "message": "the request body is over the API's limit"}}
            )
        },
    },
}


def schedule_expression(minutes: int) -> str:
    """An EventBridge rate expression (its unit is singular for one)."""
    return "rate(1 minute)" if minutes == 1 else f"rate({minutes} minutes)"


def kebab(name: str) -> str:
    """``APIHandler`` -> ``api-handler``, ``ReapOrphans`` -> ``reap-orphans``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", name).lower()


def integration_body(definition: dict[str, Any], function_arns: dict[str, str], region: str) -> str:
    """Chalice's swagger with its ``Fn::Sub`` Lambda integration URIs made concrete."""
    body = copy.deepcopy(definition)
    for item in body["paths"].values():
        for operation in item.values():
            integration = operation.get("x-amazon-apigateway-integration", {})
            uri = integration.get("uri")
            if isinstance(uri, dict) and "Fn::Sub" in uri:
                template = uri["Fn::Sub"]
                logical = template.split("${", 3)[-1].split(".Arn}", 1)[0]
                integration["uri"] = (
                    f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{function_arns[logical]}/invocations"
                )
    body["x-amazon-apigateway-gateway-responses"] = GATEWAY_RESPONSES
    return json.dumps(body, sort_keys=True)


class Api(pulumi.ComponentResource):
    """Lambda functions, their roles and logs, the REST API, its stage and triggers."""

    functions: dict[str, aws.lambda_.Function]
    rest_api: aws.apigateway.RestApi
    stage: aws.apigateway.Stage
    reaper_failures: aws.sqs.Queue
    consumer_failures: aws.sqs.Queue
    url: pulumi.Output[str]
    domain: pulumi.Output[str]
    origin_secret: pulumi.Output[str]

    def __init__(self, name: str, args: ApiArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("rrweb:index:Api", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)
        code = pulumi.FileArchive(str(args.package.zip_path))
        environment = {
            env.BUCKET: args.bucket,
            env.TABLE: args.table,
            env.STREAM: args.stream,
            env.ACCESS_TABLE: args.access_table,
            env.USER_POOL_ID: args.user_pool_id,
            env.USER_POOL_CLIENT_ID: args.user_pool_client_id,
            env.RETENTION_DAYS: str(settings.retention_days),
            env.ALLOWED_ORIGINS: ",".join(settings.allowed_origins),
            env.limit("key_requests"): str(settings.key_requests_per_minute),
            env.limit("key_bytes"): str(settings.key_bytes_per_minute),
            env.limit("user_requests"): str(settings.user_requests_per_minute),
            env.limit("key_requests_max"): str(settings.key_requests_per_minute_max),
            env.limit("user_bytes"): str(settings.user_bytes_per_minute),
            env.limit("recording_requests"): str(settings.recording_requests_per_minute),
            env.limit("client_requests"): str(settings.client_requests_per_minute),
            env.limit("client_bytes"): str(settings.client_bytes_per_minute),
            env.COMPACT_IDLE_SECONDS: str(settings.compact_idle_minutes * 60),
            env.SHARE_MAX_DAYS: str(settings.share_max_days),
            env.UNWATCHED_WINDOW_SECONDS: str(settings.consumer_unwatched_window_seconds),
        }

        # Created before the functions: their policies name them.
        self.reaper_failures = aws.sqs.Queue(
            f"{name}-reap-orphans-failures",
            message_retention_seconds=DEAD_LETTER_RETENTION_SECONDS,
            sqs_managed_sse_enabled=True,
            tags={"rrweb:stack": settings.stack},
            opts=child,
        )
        # The consumer's on-failure destination: the coordinates of a batch Lambda gave
        # up on after retries, and the records the consumer could never store.
        self.consumer_failures = aws.sqs.Queue(
            f"{name}-consume-events-failures",
            message_retention_seconds=DEAD_LETTER_RETENTION_SECONDS,
            sqs_managed_sse_enabled=True,
            tags={"rrweb:stack": settings.stack},
            opts=child,
        )
        environment[env.FAILURE_QUEUE_URL] = self.consumer_failures.url
        # What the site's distribution sends the API with every request (infra/site.py),
        # so that the API may trust the viewer address it reports. Generated once per
        # stack and kept, encrypted, in its state: never in code or config, and nothing
        # for a new stack's owner to set. Only the HTTP handler is told it.
        self.origin_secret = pulumi.Output.secret(
            random.RandomPassword(
                f"{name}-origin-secret", length=ORIGIN_SECRET_LENGTH, special=False, opts=child
            ).result
        )
        self.functions = {}
        for logical, spec in sorted(args.package.functions().items()):
            if logical not in FUNCTION_POLICIES:
                raise ValueError(f"function {logical} has no least-privilege policy in infra/api.py")
            function_name = f"{settings.prefix}-{kebab(logical)}"
            logs = aws.cloudwatch.LogGroup(
                f"{name}-{kebab(logical)}-logs",
                name=f"/aws/lambda/{function_name}",
                retention_in_days=settings.log_retention_days,
                opts=child,
            )
            role = aws.iam.Role(
                f"{name}-{kebab(logical)}-role",
                assume_role_policy=policies.assume_role("lambda.amazonaws.com"),
                opts=child,
            )
            builder = FUNCTION_POLICIES[logical]
            role_policy = aws.iam.RolePolicy(
                f"{name}-{kebab(logical)}-policy",
                role=role.id,
                policy=pulumi.Output.all(
                    args.bucket_arn,
                    args.table_arn,
                    args.access_table_arn,
                    args.stream_arn,
                    logs.arn,
                    self.reaper_failures.arn,
                    self.consumer_failures.arn,
                    args.user_pool_arn,
                ).apply(functools.partial(_policy_of, builder)),
                opts=child,
            )
            self.functions[logical] = aws.lambda_.Function(
                f"{name}-{kebab(logical)}",
                name=function_name,
                runtime=spec["Runtime"],
                handler=spec["Handler"],
                architectures=spec.get("Architectures", ["x86_64"]),
                # lambdaMemoryMb is the floor; a function whose Chalice config asks
                # for more (the compactor holds a recording's blocks) gets that. The
                # ingest door has its own setting (ingestMemoryMb).
                memory_size=(settings.ingest_memory_mb if logical == INGEST else 0)
                or max(settings.lambda_memory_mb, spec.get("MemorySize", 0)),
                timeout=spec["Timeout"],
                code=code,
                role=role.arn,
                environment={
                    "variables": {
                        **spec.get("Environment", {}).get("Variables", {}),
                        **environment,
                        **({env.ORIGIN_SECRET: self.origin_secret} if logical == "APIHandler" else {}),
                    }
                },
                # The ingest door's only throttle (a function URL has no stage throttle):
                # at most this many requests at once; past it, Lambda answers 429.
                reserved_concurrent_executions=(
                    settings.ingest_concurrency if logical == INGEST and settings.ingest_concurrency else None
                ),
                # JSON, so Lambda filters by level: the system level WARN leaves out its
                # START, END and REPORT lines, three of every invocation's four lines
                # (the metrics come from CloudWatch, not from them; docs/cost.md).
                logging_config={
                    "log_format": "JSON",
                    "application_log_level": "INFO",
                    "system_log_level": "WARN",
                    "log_group": logs.name,
                },
                tags={"rrweb:stack": settings.stack, "rrweb:source": args.package.source_hash},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy, logs]),
            )
            self._event_sources(name, logical, spec, self.functions[logical], args)

        handler = self.functions["APIHandler"]
        body = pulumi.Output.all(handler.arn, args.region).apply(
            lambda a: integration_body(args.package.api_definition(), {"APIHandler": a[0]}, a[1])
        )
        self.rest_api = aws.apigateway.RestApi(
            f"{name}-rest",
            name=f"{settings.prefix}-api",
            body=body,
            endpoint_configuration={"types": "REGIONAL"},
            opts=child,
        )
        aws.lambda_.Permission(
            f"{name}-invoke-from-api",
            action="lambda:InvokeFunction",
            function=handler.name,
            principal="apigateway.amazonaws.com",
            source_arn=self.rest_api.execution_arn.apply(lambda arn: f"{arn}/*"),
            opts=child,
        )
        deployment = aws.apigateway.Deployment(
            f"{name}-deployment",
            rest_api=self.rest_api.id,
            # A new deployment whenever the API definition changes, and only then.
            triggers={"body": body.apply(lambda b: hashlib.sha256(b.encode()).hexdigest())},
            opts=pulumi.ResourceOptions(parent=self, replace_on_changes=["triggers"], delete_before_replace=False),
        )
        stage_dependencies: list[pulumi.Resource] = []
        if settings.manage_api_gateway_account:
            stage_dependencies.append(self._account_logging_role(name))
        # A stage asking for access logs fails ("CloudWatch Logs role ARN must be set in
        # account settings to enable logging") unless the account's role is set: a stack
        # logs access only where it sets the role itself or was told it is set.
        access_log_settings: aws.apigateway.StageAccessLogSettingsArgsDict | None = None
        if settings.access_logs:
            access_logs = aws.cloudwatch.LogGroup(
                f"{name}-access-logs",
                name=f"/aws/apigateway/{settings.prefix}-access",
                retention_in_days=settings.log_retention_days,
                opts=child,
            )
            access_log_settings = {"destination_arn": access_logs.arn, "format": ACCESS_LOG_FORMAT}
        self.stage = aws.apigateway.Stage(
            f"{name}-stage",
            rest_api=self.rest_api.id,
            deployment=deployment.id,
            stage_name=STAGE,
            access_log_settings=access_log_settings,
            opts=pulumi.ResourceOptions(parent=self, depends_on=stage_dependencies),
        )
        aws.apigateway.MethodSettings(
            f"{name}-throttling",
            rest_api=self.rest_api.id,
            stage_name=self.stage.stage_name,
            method_path="*/*",
            settings={
                "throttling_rate_limit": settings.throttle_rate_limit,
                "throttling_burst_limit": settings.throttle_burst_limit,
                "metrics_enabled": True,
                "logging_level": "OFF",
                "data_trace_enabled": False,
            },
            opts=child,
        )
        self._reaper_trigger(name, args)
        self.url = self.stage.invoke_url
        self.ingest_url = self._ingest_door(name)
        self.domain = pulumi.Output.all(self.rest_api.id, args.region).apply(
            lambda a: f"{a[0]}.execute-api.{a[1]}.amazonaws.com"
        )
        self.register_outputs(
            {
                "url": self.url,
                "ingest_url": self.ingest_url,
                "rest_api_id": self.rest_api.id,
                "reaper_failures": self.reaper_failures.url,
                "consumer_failures": self.consumer_failures.url,
            }
        )

    def _ingest_door(self, name: str) -> pulumi.Output[str]:
        """The ingest function's public URL (the recorder's ``ingestUrl``), without its trailing slash.

        No IAM auth (the API checks the ingest key itself, as behind API Gateway) and no
        CORS configuration: the app answers preflights and adds CORS headers, as on the
        REST API. Lambda asks for two grants to the public since October 2025: invoking
        the URL, and invoking the function through it (only through it).
        """
        function = self.functions[INGEST]
        child = pulumi.ResourceOptions(parent=self)
        url = aws.lambda_.FunctionUrl(
            f"{name}-ingest-url",
            function_name=function.name,
            authorization_type="NONE",
            invoke_mode="BUFFERED",
            opts=child,
        )
        aws.lambda_.Permission(
            f"{name}-ingest-url-public",
            action="lambda:InvokeFunctionUrl",
            function=function.name,
            principal="*",
            function_url_auth_type="NONE",
            opts=child,
        )
        aws.lambda_.Permission(
            f"{name}-ingest-url-invoke",
            action="lambda:InvokeFunction",
            function=function.name,
            principal="*",
            invoked_via_function_url=True,
            opts=child,
        )
        return url.function_url.apply(lambda value: value.rstrip("/"))

    def _event_sources(
        self, name: str, logical: str, spec: dict[str, Any], function: aws.lambda_.Function, args: ApiArgs
    ) -> None:
        """Triggers the app declares: ``@app.on_kinesis_record`` and ``@app.schedule``.

        The stack's config wins over what the decorators say: they name a stream, a
        batch size, a batching window and a rate only because Chalice requires them,
        while each stack sizes its consumer and compaction in Pulumi.<stack>.yaml.
        """
        for event_name, event in sorted(spec.get("Events", {}).items()):
            child = f"{name}-{kebab(logical)}-{kebab(event_name)}"
            if event["Type"] == "Kinesis":
                self._stream_consumer(child, logical, event["Properties"], function, args)
            elif event["Type"] == "Schedule":
                self._schedule(child, logical, event["Properties"], function, args.settings)
            else:
                raise ValueError(f"{logical}.{event_name}: event type {event['Type']} is not wired by infra/api.py")

    def _stream_consumer(
        self, name: str, logical: str, properties: dict[str, Any], function: aws.lambda_.Function, args: ApiArgs
    ) -> None:
        """The event source mapping on the stack's own stream (whatever stream the decorator names).

        Each of the two consumers takes its records by a filter on the record's ``live``
        mark; the unwatched one gathers them over ``consumerUnwatchedWindowSeconds``.
        """
        settings = args.settings
        watched = logical == WATCHED_CONSUMER
        if not watched and logical != CONSUMER:
            raise ValueError(f"{logical}: a stream consumer infra/api.py does not know")
        aws.lambda_.EventSourceMapping(
            name,
            event_source_arn=args.stream_arn,
            function_name=function.arn,
            # The only thing taken from the decorator: where a new mapping starts reading.
            starting_position=properties.get("StartingPosition", "TRIM_HORIZON"),
            batch_size=settings.consumer_batch_size,
            maximum_batching_window_in_seconds=(
                settings.consumer_batching_window_seconds if watched else settings.consumer_unwatched_window_seconds
            ),
            parallelization_factor=(
                settings.consumer_parallelization if watched else settings.consumer_unwatched_parallelization
            ),
            filter_criteria={
                "filters": [{"pattern": json.dumps(records.LIVE_FILTER if watched else records.UNWATCHED_FILTER)}]
            },
            # A failing batch is split until the failing record is alone, so one bad
            # record holds back its shard only for its own retries.
            bisect_batch_on_function_error=True,
            maximum_retry_attempts=settings.consumer_max_retries,
            maximum_record_age_in_seconds=settings.consumer_max_record_age_seconds,
            # The consumer answers which records failed; the rest count as done.
            function_response_types=["ReportBatchItemFailures"],
            destination_config={"on_failure": {"destination_arn": self.consumer_failures.arn}},
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _schedule(
        self,
        name: str,
        logical: str,
        properties: dict[str, Any],
        function: aws.lambda_.Function,
        settings: StackSettings,
    ) -> None:
        """An EventBridge rule invoking the function; the compactor runs every ``compactEveryMinutes``."""
        if logical == COMPACTOR:
            expression = schedule_expression(settings.compact_every_minutes)
        else:
            expression = properties["Schedule"]
        rule = aws.cloudwatch.EventRule(
            name,
            # Named like the function: an auto-name from this resource's long logical
            # name would pass EventBridge's 64 characters on a pr-<n> stack.
            name=f"{settings.prefix}-{kebab(logical)}",
            schedule_expression=expression,
            opts=pulumi.ResourceOptions(parent=self),
        )
        permission = aws.lambda_.Permission(
            f"{name}-invoke",
            action="lambda:InvokeFunction",
            function=function.name,
            principal="events.amazonaws.com",
            source_arn=rule.arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.cloudwatch.EventTarget(
            f"{name}-target",
            rule=rule.name,
            arn=function.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[permission]),
        )

    def _reaper_trigger(self, name: str, args: ApiArgs) -> None:
        """S3 object-created notifications of screenshots invoke the reaper; what still fails goes to its queue.

        Only the screenshot a browser uploads with its presigned form (noted on the
        recording, so its list shows it without asking S3; removed when its recording is
        gone): one invocation per recording. The stack's own writers (the consumer, the
        compactor, comments) delete what they wrote for a recording deleted meanwhile, so
        no invocation is spent on each of their objects. The local stack sends the same
        notification, with the same filter, to a queue (``local/resources.py``).
        """
        reaper = self.functions["ReapOrphans"]
        aws.lambda_.FunctionEventInvokeConfig(
            f"{name}-reap-orphans-on-failure",
            function_name=reaper.name,
            maximum_retry_attempts=REAPER_RETRIES,
            maximum_event_age_in_seconds=REAPER_MAX_EVENT_AGE_SECONDS,
            destination_config={"on_failure": {"destination": self.reaper_failures.arn}},
            opts=pulumi.ResourceOptions(parent=self),
        )
        permission = aws.lambda_.Permission(
            f"{name}-invoke-from-bucket",
            action="lambda:InvokeFunction",
            function=reaper.name,
            principal="s3.amazonaws.com",
            source_arn=args.bucket_arn,
            source_account=args.account_id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.s3.BucketNotification(
            f"{name}-reap-orphans",
            bucket=args.bucket,
            lambda_functions=[
                {
                    "lambda_function_arn": reaper.arn,
                    "events": ["s3:ObjectCreated:*"],
                    "filter_prefix": layout.RECORDINGS_ROOT,
                    "filter_suffix": f"/{layout.SCREENSHOT_NAME}",
                }
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[permission]),
        )

    def _account_logging_role(self, name: str) -> pulumi.Resource:
        """API Gateway's CloudWatch Logs role, set in the settings of this account and region.

        The setting serves every API of the account in the region, not only this stack's:
        destroying this stack keeps the role, its policy and the setting (retained on
        delete). Without that, deleting the setting resets it (the AWS provider does since
        its version 6) and every other stack's next update of a logging stage fails.
        """
        kept = pulumi.ResourceOptions(parent=self, retain_on_delete=True)
        role = aws.iam.Role(
            f"{name}-apigateway-logs-role",
            assume_role_policy=policies.assume_role("apigateway.amazonaws.com"),
            opts=kept,
        )
        push = aws.iam.RolePolicyAttachment(
            f"{name}-apigateway-logs-push",
            role=role.name,
            policy_arn=API_GATEWAY_PUSH_TO_CLOUDWATCH_LOGS,
            opts=kept,
        )
        return aws.apigateway.Account(
            f"{name}-apigateway-account",
            cloudwatch_role_arn=role.arn,
            # API Gateway checks the role can write logs when the setting is made.
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True, depends_on=[push]),
        )


def _policy_of(builder: Callable[[Arns], list[dict[str, Any]]], arns: list[str]) -> str:
    """``function_policy`` of the ARNs ``Output.all`` resolved, given in ``Arns``' field order."""
    return function_policy(builder, Arns(*arns))


def function_policy(builder: Callable[[Arns], list[dict[str, Any]]], arns: Arns) -> str:
    """A function's own grants plus writing to its own log group."""
    group = arns.log_group.removesuffix(":*")
    return policies.document(
        [*builder(arns), policies.statement(["logs:CreateLogStream", "logs:PutLogEvents"], [f"{group}:*"])]
    )
