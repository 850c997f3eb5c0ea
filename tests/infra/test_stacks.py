"""The Pulumi program per stack: inventory, isolation, security, prod vs dev, wiring."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import jq
import pytest

from app import app
from chalicelib import layout
from chalicelib.events import prepare_batch
from local.delivery import expand_prefix
from tests.infra.conftest import ROOT, STACKS, Inventory

BUCKET = "aws:s3/bucket:Bucket"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
FIREHOSE = "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream"
REST_API = "aws:apigateway/restApi:RestApi"
FUNCTION = "aws:lambda/function:Function"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
QUEUE = "aws:sqs/queue:Queue"
TOPIC = "aws:sns/topic:Topic"

EXPECTED_INVENTORY = {
    "rrweb:index:Storage": 1,
    "rrweb:index:Metadata": 1,
    "rrweb:index:Ingest": 1,
    "rrweb:index:Auth": 1,
    "rrweb:index:Api": 1,
    "rrweb:index:Site": 1,
    BUCKET: 2,
    "aws:dynamodb/table:Table": 2,
    "aws:kinesis/stream:Stream": 1,
    FIREHOSE: 1,
    "aws:cognito/userPool:UserPool": 1,
    "aws:cognito/userPoolClient:UserPoolClient": 1,
    FUNCTION: 2,
    REST_API: 1,
    "aws:apigateway/deployment:Deployment": 1,
    "aws:apigateway/stage:Stage": 1,
    "aws:apigateway/methodSettings:MethodSettings": 1,
    "aws:cloudfront/distribution:Distribution": 1,
    "aws:cloudfront/originAccessControl:OriginAccessControl": 1,
    "aws:s3/bucketNotification:BucketNotification": 1,
    "rrweb:index:Monitoring": 1,
    ALARM: 13,
    "aws:cloudwatch/dashboard:Dashboard": 1,
    TOPIC: 1,
    "aws:sns/topicPolicy:TopicPolicy": 1,
    "aws:kms/key:Key": 1,
    "aws:kms/keyPolicy:KeyPolicy": 1,
    # No stack file sets alarmEmail: the topic has no subscriber.
    "aws:sns/topicSubscription:TopicSubscription": 0,
    QUEUE: 1,
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": 1,
}


@pytest.mark.parametrize("stack", STACKS)
def test_inventory_of_a_stack(inventories: dict[str, Inventory], stack: str) -> None:
    counts = Counter(r["type"] for r in inventories[stack].resources)
    assert {typ: counts[typ] for typ in EXPECTED_INVENTORY} == EXPECTED_INVENTORY
    exports = inventories[stack].exports
    for key in (
        "api_url",
        "site_url",
        "bucket",
        "table",
        "stream",
        "user_pool_id",
        "user_pool_client_id",
        "alarm_topic_arn",
        "dashboard",
        "reaper_dead_letter_queue",
    ):
        assert exports[key], f"{stack} exports no {key}"


def physical_names(inventory: Inventory) -> set[str]:
    """Every name AWS would see: explicit names and Pulumi's auto-names (logical name based)."""
    names = set()
    # Log streams and objects are named within their (stack-named) group or bucket.
    scoped = ("aws:cloudwatch/logStream:LogStream", "aws:s3/bucketObjectv2:BucketObjectv2")
    for resource in inventory.resources:
        if resource["type"].startswith(("rrweb:", "pulumi:")) or resource["type"] in scoped:
            continue
        inputs = resource["inputs"]
        explicit = next((inputs[k] for k in ("name", "dashboardName") if isinstance(inputs.get(k), str)), None)
        names.add(explicit or resource["name"])
    return names


def test_stacks_share_no_physical_name(inventories: dict[str, Inventory]) -> None:
    for first, second in (("dev", "pr-123"), ("dev", "prod"), ("prod", "pr-123")):
        shared = physical_names(inventories[first]) & physical_names(inventories[second])
        assert not shared, f"{first} and {second} both name {sorted(shared)}"


@pytest.mark.parametrize("stack", STACKS)
def test_buckets_block_public_access_encrypt_and_refuse_plain_http(
    inventories: dict[str, Inventory], stack: str
) -> None:
    inventory = inventories[stack]
    buckets = {b["inputs"]["bucket"] for b in inventory.of_type(BUCKET)}
    blocks = {
        b["inputs"]["bucket"]: b["inputs"]
        for b in inventory.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    }
    encryption = {
        e["inputs"]["bucket"]
        for e in inventory.of_type(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
        )
        if e["inputs"]["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"]
    }
    policies = {
        p["inputs"]["bucket"]: json.loads(p["inputs"]["policy"])
        for p in inventory.of_type("aws:s3/bucketPolicy:BucketPolicy")
    }
    for bucket in buckets:
        flags = blocks[bucket]
        assert all(
            flags[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        ), bucket
        assert bucket in encryption, f"{bucket} is not encrypted"
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in policies[bucket]["Statement"]
        ), f"{bucket} allows plain HTTP"


def iam_documents(inventory: Inventory) -> list[tuple[str, dict[str, Any]]]:
    documents = [(p["urn"], json.loads(p["inputs"]["policy"])) for p in inventory.of_type(ROLE_POLICY)]
    documents += [
        (r["urn"], json.loads(r["inputs"]["assumeRolePolicy"])) for r in inventory.of_type("aws:iam/role:Role")
    ]
    # Resource policies on the alarm topic and its key are held to the same rule.
    documents += [
        (r["urn"], json.loads(r["inputs"]["policy"]))
        for typ in ("aws:kms/keyPolicy:KeyPolicy", "aws:sns/topicPolicy:TopicPolicy")
        for r in inventory.of_type(typ)
    ]
    return documents


@pytest.mark.parametrize("stack", STACKS)
def test_no_iam_policy_grants_a_wildcard_action_or_resource(inventories: dict[str, Inventory], stack: str) -> None:
    documents = iam_documents(inventories[stack])
    assert len(documents) >= 6  # three roles with their policies, at least
    for urn, document in documents:
        for statement in document["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all("*" not in action for action in actions), f"{urn}: {actions}"
            resources = statement.get("Resource", [])
            resources = resources if isinstance(resources, list) else [resources]
            assert "*" not in resources, f"{urn}: Resource *"


def function_policy(inventory: Inventory, logical: str) -> dict[str, Any]:
    (policy,) = [p for p in inventory.of_type(ROLE_POLICY) if p["name"].endswith(f"-{logical}-policy")]
    return json.loads(policy["inputs"]["policy"])


def test_each_function_gets_only_what_it_uses(inventories: dict[str, Inventory]) -> None:
    inventory = inventories["dev"]
    table = find(inventory, "aws:dynamodb/table:Table", "-metadata-recordings")["inputs"]
    api = {a for s in function_policy(inventory, "api-handler")["Statement"] for a in s["Action"]}
    reaper = {a for s in function_policy(inventory, "reap-orphans")["Statement"] for a in s["Action"]}
    assert api == {
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
        "kinesis:PutRecords",
        "s3:ListBucket",
        "s3:DeleteObject",
        "s3:GetObject",
        "s3:PutObject",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
    assert reaper == {
        "dynamodb:GetItem",
        "s3:DeleteObject",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sqs:SendMessage",
    }
    assert "dynamodb:Scan" not in api
    assert table["hashKey"] == "owner"
    assert "dynamodb:Scan" not in reaper


def find(inventory: Inventory, typ: str, suffix: str) -> dict[str, Any]:
    (resource,) = [r for r in inventory.of_type(typ) if r["name"].endswith(suffix)]
    return resource


def test_prod_keeps_its_data_and_dev_tears_down(inventories: dict[str, Inventory]) -> None:
    for stack in ("dev", "pr-123"):
        inventory = inventories[stack]
        bucket = find(inventory, BUCKET, "-storage-bucket")
        assert bucket["inputs"]["forceDestroy"] is True
        assert not any(r.get("protect") or r.get("retainOnDelete") for r in inventory.resources), stack
        assert not inventory.of_type("aws:s3/bucketVersioning:BucketVersioning")
        assert all(
            t["inputs"]["pointInTimeRecovery"]["enabled"] is False
            for t in inventory.of_type("aws:dynamodb/table:Table")
        )
    prod = inventories["prod"]
    bucket = find(prod, BUCKET, "-storage-bucket")
    table = find(prod, "aws:dynamodb/table:Table", "-metadata-recordings")
    access = find(prod, "aws:dynamodb/table:Table", "-metadata-access")
    pool = prod.one("aws:cognito/userPool:UserPool")
    for resource in (bucket, table, access, pool):
        assert resource["protect"], resource["urn"]
        assert resource["retainOnDelete"], resource["urn"]
    assert bucket["inputs"]["forceDestroy"] is False
    assert table["inputs"]["pointInTimeRecovery"]["enabled"] is True
    assert table["inputs"]["deletionProtectionEnabled"] is True
    assert (
        prod.one("aws:s3/bucketVersioning:BucketVersioning")["inputs"]["versioningConfiguration"]["status"] == "Enabled"
    )
    retention = {
        stack: next(
            rule["expiration"]["days"]
            for rule in inventories[stack].one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")[
                "inputs"
            ]["rules"]
            if rule["id"] == "expire-recordings"
        )
        for stack in ("dev", "prod")
    }
    assert retention == {"dev": 30, "prod": 365}


def firehose_settings(inventory: Inventory) -> dict[str, Any]:
    return inventory.one(FIREHOSE)["inputs"]["extendedS3Configuration"]


def test_firehose_partitioning_places_api_records_where_the_reader_lists(inventories: dict[str, Inventory]) -> None:
    config = firehose_settings(inventories["dev"])
    processors = config["processingConfiguration"]["processors"]
    (query,) = [
        p["parameterValue"]
        for processor in processors
        if processor["type"] == "MetadataExtraction"
        for p in processor["parameters"]
        if p["parameterName"] == "MetadataExtractionQuery"
    ]
    assert "AppendDelimiterToRecord" in {processor["type"] for processor in processors}
    assert config["dynamicPartitioningConfiguration"]["enabled"] is True
    compiled = jq.compile(query)
    body = json.dumps({"seq": 7, "events": [{"type": 2, "timestamp": 1, "data": {"x": "y" * 2_000_000}}]}).encode()
    records = prepare_batch(owner="user-42", recording_id="rec_ABC-123", body=body, content_encoding=None).records
    assert len(records) >= 1
    for record in records:
        keys = compiled.input_text(record.decode()).first()
        key_prefix = expand_prefix(config["prefix"], keys, now=__import__("datetime").datetime.now())
        assert key_prefix == layout.events_prefix("user-42", "rec_ABC-123")
    assert config["errorOutputPrefix"].startswith(layout.ERRORS_PREFIX)


@pytest.mark.parametrize("stack", STACKS)
def test_firehose_buffering_and_format_are_what_aws_accepts(inventories: dict[str, Inventory], stack: str) -> None:
    config = firehose_settings(inventories[stack])
    assert config["bufferingInterval"] >= 60
    assert config["bufferingSize"] >= 64
    assert config["compressionFormat"] == "GZIP"
    assert config["cloudwatchLoggingOptions"]["enabled"] is True
    stream = inventories[stack].one("aws:kinesis/stream:Stream")["inputs"]
    assert stream["encryptionType"] == "KMS"


def test_api_gateway_body_holds_every_chalice_route_with_integration_auth_and_cors(
    inventories: dict[str, Inventory],
) -> None:
    inventory = inventories["dev"]
    body = json.loads(inventory.one(REST_API)["inputs"]["body"])
    handler = find(inventory, FUNCTION, "-api-handler")
    handler_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{handler['inputs']['name']}"
    for path, methods in app.routes.items():
        for method in methods:
            operation = body["paths"][path][method.lower()]
            integration = operation["x-amazon-apigateway-integration"]
            assert integration["type"] == "aws_proxy", (path, method)
            assert handler_arn in integration["uri"], (path, method)
            # Authentication is the app's own (the same locally): no gateway authorizer.
            assert not operation.get("security"), (path, method)
        # CORS preflights reach the app, which answers per caller origin.
        assert body["paths"][path]["options"]["x-amazon-apigateway-integration"]["type"] == "aws_proxy", path
    assert "application/gzip" in body["x-amazon-apigateway-binary-media-types"]


def test_functions_receive_the_stack_resource_names(inventories: dict[str, Inventory]) -> None:
    inventory = inventories["pr-123"]
    variables = find(inventory, FUNCTION, "-api-handler")["inputs"]["environment"]["variables"]
    assert variables["RRWEB_STREAM"] == "rrweb-s3-storage-pr-123-events"
    assert variables["RRWEB_BUCKET"] == inventory.exports["bucket"]
    assert variables["RRWEB_TABLE"] == inventory.exports["table"]
    assert variables["RRWEB_USER_POOL_ID"] == inventory.exports["user_pool_id"]
    assert variables["RRWEB_USER_POOL_CLIENT_ID"] == inventory.exports["user_pool_client_id"]
    assert variables["RRWEB_ACCESS_TABLE"].startswith("rrweb-s3-storage-pr-123-metadata-access")
    assert variables["RRWEB_LIMIT_KEY_REQUESTS"] == "600"


def test_site_reaches_the_api_same_origin_through_cloudfront(inventories: dict[str, Inventory]) -> None:
    inventory = inventories["dev"]
    distribution = inventory.one("aws:cloudfront/distribution:Distribution")["inputs"]
    (api_behavior,) = [b for b in distribution["orderedCacheBehaviors"] if b["pathPattern"] == "/api/*"]
    (api_origin,) = [o for o in distribution["origins"] if o["originId"] == api_behavior["targetOriginId"]]
    assert api_origin["domainName"].endswith(".execute-api.us-east-1.amazonaws.com")
    assert api_origin["customOriginConfig"]["originProtocolPolicy"] == "https-only"
    assert "POST" in api_behavior["allowedMethods"]
    # Authorization reaches the API only as part of the cache key, and nothing is kept.
    (cache,) = inventory.of_type("aws:cloudfront/cachePolicy:CachePolicy")
    assert api_behavior["cachePolicyId"] == f"{cache['inputs']['name']}-id"  # the mocks' id for it
    keyed = cache["inputs"]["parametersInCacheKeyAndForwardedToOrigin"]
    assert keyed["headersConfig"]["headers"]["items"] == ["Authorization"]
    assert (cache["inputs"]["defaultTtl"], cache["inputs"]["maxTtl"]) == (0, 1)
    config = next(
        o for o in inventory.of_type("aws:s3/bucketObjectv2:BucketObjectv2") if o["inputs"]["key"] == "config.json"
    )
    assert json.loads(config["inputs"]["content"])["apiUrl"] == "/api"


def test_stage_throttles_and_logs_access(inventories: dict[str, Inventory]) -> None:
    for stack, rate in (("dev", 50), ("prod", 500)):
        inventory = inventories[stack]
        settings = inventory.one("aws:apigateway/methodSettings:MethodSettings")["inputs"]["settings"]
        assert settings["throttlingRateLimit"] == rate
        stage = inventory.one("aws:apigateway/stage:Stage")["inputs"]
        assert stage["accessLogSettings"]["destinationArn"].startswith("arn:aws:logs:")


def test_orphan_reaper_is_wired_to_new_recording_objects(inventories: dict[str, Inventory]) -> None:
    inventory = inventories["dev"]
    notification = inventory.one("aws:s3/bucketNotification:BucketNotification")["inputs"]
    (target,) = notification["lambdaFunctions"]
    assert target["events"] == ["s3:ObjectCreated:*"]
    assert target["filterPrefix"] == layout.RECORDINGS_ROOT
    assert target["lambdaFunctionArn"].endswith("-reap-orphans")


def alarms_by_role(inventory: Inventory) -> dict[str, dict[str, Any]]:
    """The stack's alarms by role: the alarm name without the stack's prefix."""
    prefix = f"rrweb-s3-storage-{inventory.stack}-"
    alarms = {}
    for alarm in inventory.of_type(ALARM):
        name = alarm["inputs"]["name"]
        assert name.startswith(prefix), f"{alarm['urn']} is not named after its stack"
        alarms[name.removeprefix(prefix)] = alarm["inputs"]
    return alarms


def table_operations(inventory: Inventory, table_arn: str) -> set[str]:
    """DynamoDB operations the functions' deployed policies allow on one table (or its indexes)."""
    operations = set()
    for policy in inventory.of_type(ROLE_POLICY):
        for statement in json.loads(policy["inputs"]["policy"])["Statement"]:
            if any(r == table_arn or r.startswith(f"{table_arn}/") for r in statement["Resource"]):
                operations |= {a.removeprefix("dynamodb:") for a in statement["Action"] if a.startswith("dynamodb:")}
    return operations


def expected_alarms(inventory: Inventory) -> dict[str, tuple[str, str, dict[str, str]]]:
    """Per role: the namespace, metric and dimensions naming this stack's own resources."""
    api = inventory.one(REST_API)["inputs"]["name"]
    stage = inventory.one("aws:apigateway/stage:Stage")["inputs"]["stageName"]
    handler = find(inventory, FUNCTION, "-api-handler")["inputs"]["name"]
    reaper = find(inventory, FUNCTION, "-reap-orphans")["inputs"]["name"]
    stream = inventory.one("aws:kinesis/stream:Stream")["inputs"]["name"]
    delivery = inventory.one(FIREHOSE)["inputs"]["name"]
    queue = inventory.one(QUEUE)["inputs"]["name"]
    return {
        "api-5xx": ("AWS/ApiGateway", "5XXError", {"ApiName": api, "Stage": stage}),
        "api-handler-errors": ("AWS/Lambda", "Errors", {"FunctionName": handler}),
        "api-handler-throttles": ("AWS/Lambda", "Throttles", {"FunctionName": handler}),
        "reap-orphans-errors": ("AWS/Lambda", "Errors", {"FunctionName": reaper}),
        "reap-orphans-throttles": ("AWS/Lambda", "Throttles", {"FunctionName": reaper}),
        "stream-iterator-age": ("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", {"StreamName": stream}),
        "stream-write-throttled": ("AWS/Kinesis", "WriteProvisionedThroughputExceeded", {"StreamName": stream}),
        "delivery-freshness": ("AWS/Firehose", "DeliveryToS3.DataFreshness", {"DeliveryStreamName": delivery}),
        "delivery-failures": ("AWS/Firehose", "DeliveryToS3.Success", {"DeliveryStreamName": delivery}),
        "delivery-partitions-exceeded": ("AWS/Firehose", "PartitionCountExceeded", {"DeliveryStreamName": delivery}),
        "reap-orphans-dead-letters": ("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": queue}),
    }


@pytest.mark.parametrize("stack", STACKS)
def test_every_alarm_watches_this_stacks_resources_and_notifies_the_topic(
    inventories: dict[str, Inventory], stack: str
) -> None:
    inventory = inventories[stack]
    alarms = alarms_by_role(inventory)
    expected = expected_alarms(inventory)
    assert set(alarms) == {*expected, "recordings-table-throttled", "access-table-throttled"}
    for role, (namespace, metric, dimensions) in expected.items():
        alarm = alarms[role]
        assert (alarm["namespace"], alarm["metricName"], alarm["dimensions"]) == (namespace, metric, dimensions), role
    topic = inventory.exports["alarm_topic_arn"]
    for role, alarm in alarms.items():
        assert alarm["alarmActions"] == [topic], f"{role} notifies {alarm['alarmActions']}"
        assert alarm["okActions"] == [topic], f"{role} does not say when it clears"
        assert f"docs/operations.md#{role}" in alarm["alarmDescription"]


@pytest.mark.parametrize("stack", STACKS)
def test_throttle_alarms_cover_every_operation_the_functions_may_call(
    inventories: dict[str, Inventory], stack: str
) -> None:
    inventory = inventories[stack]
    alarms = alarms_by_role(inventory)
    for role, suffix, indexes in (
        ("recordings", "-metadata-recordings", set()),
        ("access", "-metadata-access", {"byOwner"}),
    ):
        table = find(inventory, "aws:dynamodb/table:Table", suffix)
        name = table["inputs"]["name"]
        table_arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{name}"
        queries = alarms[f"{role}-table-throttled"]["metricQueries"]
        metrics = [q["metric"] for q in queries if "metric" in q]
        assert all(m["namespace"] == "AWS/DynamoDB" and m["dimensions"]["TableName"] == name for m in metrics)
        per_operation = {m["dimensions"]["Operation"] for m in metrics if m["metricName"] == "ThrottledRequests"}
        assert per_operation == table_operations(inventory, table_arn), role
        events = {
            (m["metricName"], m["dimensions"].get("GlobalSecondaryIndexName"))
            for m in metrics
            if "Events" in m["metricName"]
        }
        assert events == {
            (e, index) for e in ("ReadThrottleEvents", "WriteThrottleEvents") for index in {None, *indexes}
        }
        (result,) = [q for q in queries if q.get("returnData")]
        assert result["expression"] == f"SUM([{','.join(q['id'] for q in queries if 'metric' in q)}])"


def test_thresholds_leave_room_for_normal_buffering(inventories: dict[str, Inventory]) -> None:
    for stack in STACKS:
        inventory = inventories[stack]
        alarms = alarms_by_role(inventory)
        buffer = firehose_settings(inventory)["bufferingInterval"]
        # Dynamic partitioning may hold a record 1.5 buffer intervals by design.
        assert alarms["delivery-freshness"]["threshold"] > 1.5 * buffer
        assert alarms["delivery-failures"]["comparisonOperator"] == "LessThanThreshold"
        assert alarms["delivery-failures"]["threshold"] == 1
        retention_ms = inventory.one("aws:kinesis/stream:Stream")["inputs"]["retentionPeriod"] * 3600 * 1000
        assert alarms["stream-iterator-age"]["threshold"] < retention_ms / 10
        # Firehose polls every shard every second: no reads at all is trouble.
        assert alarms["stream-iterator-age"]["treatMissingData"] == "breaching"
        # The rest exist only on traffic or trouble: silence must not alarm.
        quiet = {role for role, alarm in alarms.items() if alarm["treatMissingData"] == "notBreaching"}
        assert quiet == set(alarms) - {"stream-iterator-age"}, stack


def test_reaper_failures_go_to_an_encrypted_two_week_queue_it_may_only_send_to(
    inventories: dict[str, Inventory],
) -> None:
    inventory = inventories["dev"]
    queue = inventory.one(QUEUE)["inputs"]
    queue_arn = f"arn:aws:sqs:us-east-1:123456789012:{queue['name']}"
    assert queue["sqsManagedSseEnabled"] is True
    assert queue["messageRetentionSeconds"] == 14 * 24 * 3600
    config = inventory.one("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig")["inputs"]
    assert config["functionName"] == find(inventory, FUNCTION, "-reap-orphans")["inputs"]["name"]
    assert config["destinationConfig"]["onFailure"]["destination"] == queue_arn
    assert 0 <= config["maximumRetryAttempts"] <= 2
    assert 60 <= config["maximumEventAgeInSeconds"] <= 6 * 3600
    reaper = function_policy(inventory, "reap-orphans")["Statement"]
    statements = [s for s in reaper if any(a.startswith("sqs:") for a in s["Action"])]
    assert statements == [{"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": [queue_arn]}]
    api = {a for s in function_policy(inventory, "api-handler")["Statement"] for a in s["Action"]}
    assert not any(a.startswith("sqs:") for a in api)


@pytest.mark.parametrize("stack", STACKS)
def test_alarm_topic_is_encrypted_with_a_key_only_this_stacks_alarms_may_use(
    inventories: dict[str, Inventory], stack: str
) -> None:
    inventory = inventories[stack]
    topic = inventory.one(TOPIC)["inputs"]
    key_name = inventory.one("aws:kms/key:Key")["name"]
    key_arn = f"arn:aws:kms:us-east-1:123456789012:key/{key_name}-a1b2c3d"
    assert topic["kmsMasterKeyId"] == key_arn
    alarms = f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:rrweb-s3-storage-{stack}-*"
    for typ, resource, actions in (
        ("aws:kms/keyPolicy:KeyPolicy", key_arn, ["kms:Decrypt", "kms:GenerateDataKey"]),
        ("aws:sns/topicPolicy:TopicPolicy", inventory.exports["alarm_topic_arn"], ["sns:Publish"]),
    ):
        statements = json.loads(inventory.one(typ)["inputs"]["policy"])["Statement"]
        (service,) = [s for s in statements if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
        assert service["Action"] == actions, typ
        assert service["Resource"] == [resource], typ
        assert service["Condition"]["ArnLike"] == {"aws:SourceArn": alarms}, typ
        assert service["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}, typ
        assert all(s["Resource"] == [resource] for s in statements), typ


def metric_names(body: dict[str, Any]) -> set[str]:
    """Every string a dashboard's metric widgets name (namespaces, metrics, dimension values)."""
    return {
        part
        for widget in body["widgets"]
        if widget["type"] == "metric"
        for metric in widget["properties"]["metrics"]
        for part in metric
        if isinstance(part, str)
    }


@pytest.mark.parametrize("stack", STACKS)
def test_dashboard_shows_this_stacks_resources(inventories: dict[str, Inventory], stack: str) -> None:
    inventory = inventories[stack]
    dashboard = inventory.one("aws:cloudwatch/dashboard:Dashboard")["inputs"]
    assert dashboard["dashboardName"] == inventory.exports["dashboard"] == f"rrweb-s3-storage-{stack}"
    body = json.loads(dashboard["dashboardBody"])
    names = metric_names(body)
    own = {dimensions_value for _, _, dims in expected_alarms(inventory).values() for dimensions_value in dims.values()}
    own |= {t["inputs"]["name"] for t in inventory.of_type("aws:dynamodb/table:Table")}
    assert own <= names, f"the dashboard misses {sorted(own - names)}"
    for metric in (
        "Count",
        "Latency",
        "5XXError",
        "Errors",
        "Duration",
        "Throttles",
        "ConcurrentExecutions",
        "IncomingRecords",
        "IncomingBytes",
        "GetRecords.IteratorAgeMilliseconds",
        "WriteProvisionedThroughputExceeded",
        "DeliveryToS3.DataFreshness",
        "DeliveryToS3.Success",
        "ConsumedReadCapacityUnits",
        "ConsumedWriteCapacityUnits",
        "ReadThrottleEvents",
        "WriteThrottleEvents",
        "ApproximateNumberOfMessagesVisible",
    ):
        assert metric in names, f"the dashboard does not chart {metric}"
    assert all(w["properties"]["region"] == "us-east-1" for w in body["widgets"] if w["type"] == "metric")
    (alarm_widget,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    assert set(alarm_widget["properties"]["alarms"]) == {
        f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{a['inputs']['name']}" for a in inventory.of_type(ALARM)
    }
    others = {s for s in STACKS if s != stack}
    assert not any(f"rrweb-s3-storage-{other}-" in name for other in others for name in names)


def test_operations_guide_explains_every_alarm(inventories: dict[str, Inventory]) -> None:
    guide = (ROOT / "docs" / "operations.md").read_text()
    for role in alarms_by_role(inventories["dev"]):
        assert f"### `{role}`" in guide, f"docs/operations.md does not explain {role}"
