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
from tests.infra.conftest import STACKS, Inventory

BUCKET = "aws:s3/bucket:Bucket"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
FIREHOSE = "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream"
REST_API = "aws:apigateway/restApi:RestApi"
FUNCTION = "aws:lambda/function:Function"

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
}


@pytest.mark.parametrize("stack", STACKS)
def test_inventory_of_a_stack(inventories: dict[str, Inventory], stack: str) -> None:
    counts = Counter(r["type"] for r in inventories[stack].resources)
    assert {typ: counts[typ] for typ in EXPECTED_INVENTORY} == EXPECTED_INVENTORY
    exports = inventories[stack].exports
    for key in ("api_url", "site_url", "bucket", "table", "stream", "user_pool_id", "user_pool_client_id"):
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
        explicit = inputs.get("name") if isinstance(inputs.get("name"), str) else None
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
    assert reaper == {"dynamodb:GetItem", "s3:DeleteObject", "logs:CreateLogStream", "logs:PutLogEvents"}
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
