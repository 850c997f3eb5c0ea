"""The Pulumi program per stack: inventory, isolation, security, prod vs dev, wiring."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import pytest

from app import app
from chalicelib import layout, schema
from chalicelib.schema import INDEX_PENDING_COMPACTION, PENDING_ATTRIBUTE
from chalicelib.settings import Limits
from infra.settings import StackSettings
from tests.support.inventories import ROOT, STACKS, Inventory

BUCKET = "aws:s3/bucket:Bucket"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
FIREHOSE = "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream"
REST_API = "aws:apigateway/restApi:RestApi"
FUNCTION = "aws:lambda/function:Function"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
QUEUE = "aws:sqs/queue:Queue"
TOPIC = "aws:sns/topic:Topic"
MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
PERMISSION = "aws:lambda/permission:Permission"
CORS = "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
TABLE = "aws:dynamodb/table:Table"

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
    # The API, the ingest door, the stream consumer, the compactor, the orphan reaper, the
    # retention expiry.
    FUNCTION: 7,
    # The ingest door's URL.
    "aws:lambda/functionUrl:FunctionUrl": 1,
    REST_API: 1,
    "aws:apigateway/deployment:Deployment": 1,
    "aws:apigateway/stage:Stage": 1,
    "aws:apigateway/methodSettings:MethodSettings": 1,
    "aws:cloudfront/distribution:Distribution": 1,
    "aws:cloudfront/originAccessControl:OriginAccessControl": 1,
    "aws:s3/bucketNotification:BucketNotification": 1,
    "rrweb:index:Monitoring": 1,
    ALARM: 26,
    "aws:cloudwatch/dashboard:Dashboard": 1,
    TOPIC: 1,
    "aws:sns/topicPolicy:TopicPolicy": 1,
    "aws:kms/key:Key": 1,
    "aws:kms/keyPolicy:KeyPolicy": 1,
    # No stack file sets alarmEmail: the topic has no subscriber.
    "aws:sns/topicSubscription:TopicSubscription": 0,
    # The reaper's dead letters and the consumer's failures.
    QUEUE: 2,
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": 1,
    # The stream's two consumers: unwatched and watched recordings.
    MAPPING: 2,
    RULE: 2,
    TARGET: 2,
    # Invocations from API Gateway, S3 (the reaper) and EventBridge (the compactor, the expiry),
    # and the public's two through the ingest door's URL.
    PERMISSION: 6,
    CORS: 1,
}


@pytest.mark.parametrize("stack", STACKS)
def test_inventory_of_a_stack(inventories: dict[str, Inventory], stack: str) -> None:
    counts = Counter(r["type"] for r in inventories[stack].resources)
    assert {typ: counts[typ] for typ in EXPECTED_INVENTORY} == EXPECTED_INVENTORY
    exports = inventories[stack].exports
    for key in (
        "api_url",
        "ingest_url",
        "site_url",
        "bucket",
        "table",
        "stream",
        "user_pool_id",
        "user_pool_client_id",
        "alarm_topic_arn",
        "dashboard",
        "reaper_dead_letter_queue",
        "consumer_failures_queue",
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


def grants(inventory: Inventory, logical: str) -> set[tuple[str, str]]:
    """A function's policy as (action, resource) pairs, its log group's grants left out."""
    return {
        (action, resource)
        for statement in function_policy(inventory, logical)["Statement"]
        for action in statement["Action"]
        for resource in statement["Resource"]
        if not action.startswith("logs:")
    }


def test_each_function_gets_only_what_it_uses(inventories: dict[str, Inventory]) -> None:
    inventory = inventories["dev"]
    table = find(inventory, TABLE, "-metadata-recordings")["inputs"]
    api = {a for s in function_policy(inventory, "api-handler")["Statement"] for a in s["Action"]}
    reaper = {a for s in function_policy(inventory, "reap-orphans")["Statement"] for a in s["Action"]}
    assert api == {
        "dynamodb:BatchGetItem",
        "dynamodb:DeleteItem",  # the access table's items only (a member removed), never a recording
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
        "kinesis:PutRecords",
        "cognito-idp:AdminCreateUser",  # an invite's account, on the stack's pool alone
        "cognito-idp:AdminGetUser",
        "s3:ListBucket",
        "s3:DeleteObject",
        "s3:GetObject",
        "s3:PutObject",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
    assert reaper == {
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "s3:DeleteObject",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sqs:SendMessage",
    }
    # The recorder's door: create and append, nothing read back, deleted or listed by index.
    door = function_policy(inventory, "ingest")["Statement"]
    assert {a for s in door for a in s["Action"]} == {
        "dynamodb:BatchGetItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "kinesis:PutRecords",
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
    bucket = stack_arns(inventory)["bucket"]
    # A recording's objects are only ever written (the screenshot's presigned upload), never read.
    assert {r for s in door if "s3:GetObject" in s["Action"] for r in s["Resource"]} == {
        f"{bucket}/{layout.ASSETS_ROOT}*"
    }
    assert "dynamodb:Scan" not in api
    assert table["hashKey"] == schema.RECORDINGS_KEY
    assert "dynamodb:Scan" not in reaper


@pytest.mark.parametrize("stack", STACKS)
def test_the_reaper_reads_and_notes_recordings_and_deletes_only_recording_objects(
    inventories: dict[str, Inventory], stack: str
) -> None:
    inventory = inventories[stack]
    arns = stack_arns(inventory)
    queue = find(inventory, QUEUE, "-reap-orphans-failures")["inputs"]["name"]
    assert grants(inventory, "reap-orphans") == {
        ("dynamodb:GetItem", arns["table"]),
        # Only the table's items (a recording's screenshotAt), never an index or another table.
        ("dynamodb:UpdateItem", arns["table"]),
        ("s3:DeleteObject", f"{arns['bucket']}/{layout.RECORDINGS_ROOT}*"),
        ("sqs:SendMessage", f"arn:aws:sqs:us-east-1:123456789012:{queue}"),
    }


@pytest.mark.parametrize("stack", STACKS)
def test_the_api_reaches_keys_and_counters_by_item_and_lists_keys_only_through_their_index(
    inventories: dict[str, Inventory], stack: str
) -> None:
    inventory = inventories[stack]
    access = find(inventory, TABLE, "-metadata-access")["inputs"]["name"]
    access_arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{access}"
    on_access = {(action, resource) for action, resource in grants(inventory, "api-handler") if access in resource}
    assert on_access == {
        # Purpose keys are written with their pointer in one transaction: PutItem covers it;
        # a membership's two items are put or deleted in one (PutItem, DeleteItem).
        *(
            (f"dynamodb:{action}", access_arn)
            for action in ("BatchGetItem", "DeleteItem", "GetItem", "PutItem", "UpdateItem")
        ),
        ("dynamodb:Query", f"{access_arn}/index/{schema.INDEX_KEYS_BY_OWNER}"),
        ("dynamodb:Query", f"{access_arn}/index/{schema.INDEX_BY_PARENT}"),
    }


@pytest.mark.parametrize("stack", STACKS)
def test_the_api_may_create_accounts_in_its_own_pool_and_do_nothing_else_there(
    inventories: dict[str, Inventory], stack: str
) -> None:
    inventory = inventories[stack]
    pool = inventory.one("aws:cognito/userPool:UserPool")["inputs"]["name"]
    pool_arn = f"arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_{pool}"
    on_cognito = {pair for pair in grants(inventory, "api-handler") if pair[0].startswith("cognito-idp:")}
    assert on_cognito == {("cognito-idp:AdminCreateUser", pool_arn), ("cognito-idp:AdminGetUser", pool_arn)}
    for logical in ("reap-orphans", "consume-events", "compact-recordings"):
        assert not any(action.startswith("cognito-idp:") for action, _ in grants(inventory, logical))


@pytest.mark.parametrize("stack", STACKS)
def test_the_expiry_finds_workspaces_and_their_recordings_by_index_and_deletes_only_recordings(
    inventories: dict[str, Inventory], stack: str
) -> None:
    inventory = inventories[stack]
    arns = stack_arns(inventory)
    access = find(inventory, TABLE, "-metadata-access")["inputs"]["name"]
    access_arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{access}"
    assert grants(inventory, "expire-recordings") == {
        ("dynamodb:Query", f"{access_arn}/index/{schema.INDEX_BY_PARENT}"),
        ("dynamodb:Query", f"{arns['table']}/index/{schema.INDEX_RECORDINGS_BY_OWNER}"),
        *((f"dynamodb:{action}", arns["table"]) for action in ("BatchGetItem", "GetItem", "PutItem", "UpdateItem")),
        ("s3:ListBucket", arns["bucket"]),
        ("s3:DeleteObject", f"{arns['bucket']}/{layout.RECORDINGS_ROOT}*"),
    }


def stack_arns(inventory: Inventory) -> dict[str, str]:
    """The ARNs the mocks give this stack's bucket, recordings table, stream and consumer queue."""
    bucket = find(inventory, BUCKET, "-storage-bucket")["inputs"]["bucket"]
    table = find(inventory, TABLE, "-metadata-recordings")["inputs"]["name"]
    stream = inventory.one("aws:kinesis/stream:Stream")["inputs"]["name"]
    queue = inventory.exports["consumer_failures_queue"].rsplit("/", 1)[-1]
    return {
        "bucket": f"arn:aws:s3:::{bucket}",
        "table": f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}",
        "stream": f"arn:aws:kinesis:us-east-1:123456789012:stream/{stream}",
        "queue": f"arn:aws:sqs:us-east-1:123456789012:{queue}",
    }


@pytest.mark.parametrize("stack", STACKS)
def test_the_consumer_reads_its_stream_and_writes_only_recordings(
    inventories: dict[str, Inventory], stack: str
) -> None:
    inventory = inventories[stack]
    arns = stack_arns(inventory)
    objects = f"{arns['bucket']}/{layout.RECORDINGS_ROOT}*"
    assert grants(inventory, "consume-events") == {
        *(
            (f"kinesis:{action}", arns["stream"])
            for action in ("DescribeStream", "DescribeStreamSummary", "GetRecords", "GetShardIterator", "ListShards")
        ),
        ("dynamodb:GetItem", arns["table"]),
        ("dynamodb:UpdateItem", arns["table"]),
        ("s3:PutObject", objects),
        # A chunk written for a recording deleted meanwhile: the consumer deletes it itself.
        ("s3:DeleteObject", objects),
        ("sqs:SendMessage", arns["queue"]),
    }
    statements = function_policy(inventory, "consume-events")["Statement"]
    assert not any("Condition" in s for s in statements), "the consumer's grants are unconditional and exact"


@pytest.mark.parametrize("stack", STACKS)
def test_the_compactor_finds_idle_recordings_by_index_and_rewrites_only_recordings(
    inventories: dict[str, Inventory], stack: str
) -> None:
    inventory = inventories[stack]
    arns = stack_arns(inventory)
    objects = f"{arns['bucket']}/{layout.RECORDINGS_ROOT}*"
    assert grants(inventory, "compact-recordings") == {
        ("dynamodb:Query", f"{arns['table']}/index/{INDEX_PENDING_COMPACTION}"),
        ("dynamodb:GetItem", arns["table"]),
        ("dynamodb:UpdateItem", arns["table"]),
        ("s3:ListBucket", arns["bucket"]),
        ("s3:GetObject", objects),
        ("s3:PutObject", objects),
        ("s3:DeleteObject", objects),
    }
    assert_missing_keys_read_as_404(inventory, "compact-recordings")


def assert_missing_keys_read_as_404(inventory: Inventory, function: str) -> None:
    """S3 answers a GetObject of a missing key with 404 only to a caller allowed to list the
    bucket; a ListBucket grant with an ``s3:prefix`` condition does not count (a GetObject
    carries no prefix), and the answer becomes 403, which the reader's retry does not expect."""
    (listing,) = [s for s in function_policy(inventory, function)["Statement"] if "s3:ListBucket" in s["Action"]]
    assert "Condition" not in listing, listing


@pytest.mark.parametrize("stack", STACKS)
def test_the_api_reads_a_key_compacted_away_as_missing_not_forbidden(
    inventories: dict[str, Inventory], stack: str
) -> None:
    assert_missing_keys_read_as_404(inventories[stack], "api-handler")


def find(inventory: Inventory, typ: str, suffix: str) -> dict[str, Any]:
    (resource,) = [r for r in inventory.of_type(typ) if r["name"].endswith(suffix)]
    return resource


# API Gateway's CloudWatch Logs role, its policy and the account setting naming it.
ACCOUNT_WIDE = ("-apigateway-logs-role", "-apigateway-logs-push", "-apigateway-account")


def test_prod_keeps_its_data_and_dev_tears_down(inventories: dict[str, Inventory]) -> None:
    for stack in ("dev", "pr-123"):
        inventory = inventories[stack]
        bucket = find(inventory, BUCKET, "-storage-bucket")
        assert bucket["inputs"]["forceDestroy"] is True
        # Only what belongs to the account rather than the stack outlives it: API Gateway's
        # CloudWatch Logs role and setting (tests/infra/test_account_logging.py).
        kept = [r for r in inventory.resources if r.get("protect") or r.get("retainOnDelete")]
        assert all(r["name"].endswith(ACCOUNT_WIDE) and not r["protect"] for r in kept), stack
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


@pytest.mark.parametrize("stack", STACKS)
def test_firehose_is_a_raw_archive_without_dynamic_partitioning(inventories: dict[str, Inventory], stack: str) -> None:
    inventory = inventories[stack]
    config = firehose_settings(inventory)
    assert "dynamicPartitioningConfiguration" not in config
    assert "processingConfiguration" not in config
    assert config["prefix"] == layout.ARCHIVE_PREFIX_TEMPLATE
    assert config["prefix"].startswith(layout.ARCHIVE_PREFIX)
    assert config["errorOutputPrefix"] == layout.ERROR_PREFIX_TEMPLATE
    assert config["errorOutputPrefix"].startswith(layout.ERRORS_PREFIX)
    # The delivery role writes the archive and its error output, never a recording's objects.
    (delivery,) = [p for p in inventory.of_type(ROLE_POLICY) if p["name"].endswith("-ingest-delivery-policy")]
    bucket = stack_arns(inventory)["bucket"]
    written = {
        resource
        for statement in json.loads(delivery["inputs"]["policy"])["Statement"]
        if "s3:PutObject" in statement["Action"]
        for resource in statement["Resource"]
    }
    assert written == {f"{bucket}/{layout.ARCHIVE_PREFIX}*", f"{bucket}/{layout.ERRORS_PREFIX}*"}


@pytest.mark.parametrize("stack", STACKS)
def test_firehose_buffering_and_format_are_what_aws_accepts(inventories: dict[str, Inventory], stack: str) -> None:
    config = firehose_settings(inventories[stack])
    defaults = StackSettings(stack=stack)
    # No stack file overrides the archive's buffering: the defaults, within Firehose's limits.
    assert config["bufferingInterval"] == defaults.archive_buffer_seconds == 300
    assert config["bufferingSize"] == defaults.archive_buffer_mb == 128
    assert 0 <= config["bufferingInterval"] <= 900
    assert 1 <= config["bufferingSize"] <= 128
    assert config["compressionFormat"] == "GZIP"
    assert config["cloudwatchLoggingOptions"]["enabled"] is True
    stream = inventories[stack].one("aws:kinesis/stream:Stream")["inputs"]
    assert stream["encryptionType"] == "KMS"


@pytest.mark.parametrize("stack", STACKS)
def test_lifecycle_expires_the_archive_and_never_unconsolidated_chunks(
    inventories: dict[str, Inventory], stack: str
) -> None:
    rules = {rule["id"]: rule for rule in inventories[stack].one(LIFECYCLE)["inputs"]["rules"]}
    assert rules["expire-archive"]["filter"] == {"prefix": layout.ARCHIVE_PREFIX}
    assert rules["expire-archive"]["expiration"]["days"] == 7
    # Firehose's error output holds raw records too: it goes with the archive.
    assert rules["expire-delivery-errors"]["filter"] == {"prefix": layout.ERRORS_PREFIX}
    assert rules["expire-delivery-errors"]["expiration"]["days"] == 7
    # Compaction removes chunks only once the compacted object is verified: no rule may
    # expire events by age or tag before their recording's retention.
    assert "expire-live-chunks" not in rules
    # (The Glacier transition filters on size too, and expires nothing.)
    for rule in rules.values():
        assert "tag" not in rule["filter"], rule["id"]
        assert "expiration" not in rule or "and" not in rule["filter"], rule["id"]
    under_recordings = [
        rule for rule in rules.values() if "expiration" in rule and rule["filter"]["prefix"].startswith("recordings")
    ]
    assert [rule["id"] for rule in under_recordings] == ["expire-recordings"]


def test_prod_moves_compacted_recordings_to_glacier_instant_retrieval_and_dev_keeps_standard(
    inventories: dict[str, Inventory],
) -> None:
    rules = {
        stack: {rule["id"]: rule for rule in inventories[stack].one(LIFECYCLE)["inputs"]["rules"]}
        for stack in ("dev", "prod")
    }
    assert "compacted-to-glacier-ir" not in rules["dev"]
    moved = rules["prod"]["compacted-to-glacier-ir"]
    assert moved["transitions"] == [{"days": 30, "storageClass": "GLACIER_IR"}]
    # Only objects Glacier IR does not bill up to 128 KB, only under recordings/, never expired here.
    assert moved["filter"] == {"and": {"prefix": layout.RECORDINGS_ROOT, "objectSizeGreaterThan": 128 * 1024 - 1}}
    assert "expiration" not in moved
    # They stay there at least the 90 days Glacier IR bills for.
    assert rules["prod"]["expire-recordings"]["expiration"]["days"] >= 30 + 90


@pytest.mark.parametrize(("after", "retention"), [(-1, 365), (276, 365), (1, 90), (30, 119)])
def test_a_glacier_transition_that_would_bill_an_early_deletion_is_refused(after: int, retention: int) -> None:
    with pytest.raises(ValueError, match="glacierAfterDays"):
        StackSettings(stack="dev", retention_days=retention, glacier_after_days=after).validate()
    StackSettings(stack="dev", retention_days=365, glacier_after_days=275).validate()


@pytest.mark.parametrize("stack", STACKS)
def test_bucket_cors_lets_only_the_site_read_and_any_page_upload(inventories: dict[str, Inventory], stack: str) -> None:
    inventory = inventories[stack]
    cors = inventory.one(CORS)["inputs"]
    assert cors["bucket"] == inventory.exports["bucket"]
    site = inventory.exports["site_url"].rstrip("/")
    assert site.startswith("https://")
    assert site.endswith(".cloudfront.net")
    reads = [rule for rule in cors["corsRules"] if {"GET", "HEAD"} & set(rule["allowedMethods"])]
    (read,) = reads
    assert sorted(read["allowedMethods"]) == ["GET", "HEAD"]
    # No stack file sets allowedOrigins: the site's origin alone.
    assert read["allowedOrigins"] == [site]
    assert read["allowedHeaders"] == ["Range"]
    assert set(read["exposeHeaders"]) == {"Content-Range", "Content-Length", "ETag"}
    (upload,) = [rule for rule in cors["corsRules"] if rule is not read]
    assert upload["allowedMethods"] == ["POST", "PUT"]  # screenshots (a form), page assets (a PUT)
    assert upload["allowedOrigins"] == ["*"]


@pytest.mark.parametrize("stack", STACKS)
def test_recordings_table_is_keyed_per_recording_with_only_global_indexes(
    inventories: dict[str, Inventory], stack: str
) -> None:
    table = find(inventories[stack], TABLE, "-metadata-recordings")["inputs"]
    # One partition key per recording, and no LSI: no owner is bound to one partition
    # or to a 10 GB item collection.
    assert table["hashKey"] == schema.RECORDINGS_KEY
    assert "rangeKey" not in table
    assert not table.get("localSecondaryIndexes")
    attributes = {a["name"]: a["type"] for a in table["attributes"]}
    assert attributes[PENDING_ATTRIBUTE] == "S"
    assert attributes[schema.ACTIVE_ATTRIBUTE] == "N"
    indexes = {index["name"]: index for index in table["globalSecondaryIndexes"]}
    assert set(indexes) == {INDEX_PENDING_COMPACTION, schema.INDEX_RECORDINGS_BY_OWNER, schema.INDEX_RECORDINGS_BY_USER}
    assert index_keys(indexes[schema.INDEX_RECORDINGS_BY_USER]) == (schema.OWNER_USER_ATTRIBUTE, "createdKey")
    pending = indexes[INDEX_PENDING_COMPACTION]
    assert index_keys(pending) == (PENDING_ATTRIBUTE, schema.ACTIVE_ATTRIBUTE)
    by_owner = indexes[schema.INDEX_RECORDINGS_BY_OWNER]
    assert index_keys(by_owner) == ("owner", "createdKey")
    # Keys only: a count's update never writes an index whose keys it leaves alone.
    assert {index["projectionType"] for index in indexes.values()} == {"KEYS_ONLY"}
    # Every defined attribute is a key of the table or of an index (DynamoDB refuses others).
    keys = {table["hashKey"]} | {key for i in indexes.values() for key in index_keys(i)}
    assert set(attributes) == keys
    # The same definition the local stack creates.
    assert table["ttl"] == {"attributeName": schema.TTL_ATTRIBUTE, "enabled": True}
    assert schema.RECORDINGS.pulumi()["global_secondary_indexes"][0]["name"] in indexes


def index_keys(index: dict[str, Any]) -> tuple[str, str]:
    """A global secondary index's partition and sort key, from its key schema."""
    by_type = {key["keyType"]: key["attributeName"] for key in index["keySchemas"]}
    assert len(by_type) == len(index["keySchemas"]) == 2, index
    return by_type["HASH"], by_type["RANGE"]


def consumer_mappings(inventory: Inventory) -> dict[str, dict[str, Any]]:
    """The stream's event source mappings by the function they invoke."""
    return {mapping["inputs"]["functionName"]: mapping["inputs"] for mapping in inventory.of_type(MAPPING)}


def test_the_consumer_mappings_take_their_settings_from_stack_config(inventories: dict[str, Inventory]) -> None:
    # Prod gathers an unwatched recording's batches over a minute, in ten concurrent
    # batches per shard (docs/architecture.md, "Two consumers"); dev and PR stacks keep a second.
    for stack, parallelization, unwatched_window, unwatched_parallelization in (
        ("dev", 1, 1, 1),
        ("pr-123", 1, 1, 1),
        ("prod", 2, 90, 10),
    ):
        inventory = inventories[stack]
        mappings = consumer_mappings(inventory)
        arns = stack_arns(inventory)
        consumer = find(inventory, FUNCTION, "-consume-events")["inputs"]["name"]
        watched_consumer = find(inventory, FUNCTION, "-consume-watched-events")["inputs"]["name"]
        function = "arn:aws:lambda:us-east-1:123456789012:function:"
        assert set(mappings) == {function + consumer, function + watched_consumer}, stack
        for mapping in mappings.values():
            assert mapping["eventSourceArn"] == arns["stream"], stack
            assert mapping["startingPosition"] == "TRIM_HORIZON"
            assert mapping["batchSize"] == 500
            assert mapping["bisectBatchOnFunctionError"] is True
            assert mapping["maximumRetryAttempts"] == 5
            assert mapping["maximumRecordAgeInSeconds"] == 86400
            assert mapping["functionResponseTypes"] == ["ReportBatchItemFailures"]
            assert mapping["destinationConfig"] == {"onFailure": {"destinationArn": arns["queue"]}}
        watched = mappings[function + watched_consumer]
        assert watched["maximumBatchingWindowInSeconds"] == 1
        assert watched["parallelizationFactor"] == parallelization, stack
        unwatched = mappings[function + consumer]
        assert unwatched["maximumBatchingWindowInSeconds"] == unwatched_window, stack
        assert unwatched["parallelizationFactor"] == unwatched_parallelization, stack


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize(
    ("function", "expression"), [("compact-recordings", "rate(5 minutes)"), ("expire-recordings", "rate(1 hour)")]
)
def test_the_compactor_and_the_expiry_run_on_their_schedules_invoked_only_by_their_rules(
    inventories: dict[str, Inventory], stack: str, function: str, expression: str
) -> None:
    inventory = inventories[stack]
    (rule,) = [r for r in inventory.of_type(RULE) if r["inputs"]["name"].endswith(f"-{function}")]
    rule_name = rule["inputs"]["name"]
    assert rule_name == f"rrweb-s3-storage-{stack}-{function}"
    assert len(rule_name) <= 64
    assert rule["inputs"]["scheduleExpression"] == expression
    name = find(inventory, FUNCTION, f"-{function}")["inputs"]["name"]
    (target,) = [t["inputs"] for t in inventory.of_type(TARGET) if t["inputs"]["rule"] == rule_name]
    assert target["arn"] == f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
    (permission,) = [
        p["inputs"]
        for p in inventory.of_type(PERMISSION)
        if p["inputs"]["principal"] == "events.amazonaws.com" and p["inputs"]["function"] == name
    ]
    assert permission["action"] == "lambda:InvokeFunction"
    assert permission["sourceArn"] == f"arn:aws:events:us-east-1:123456789012:rule/{rule_name}"


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
    # The stage throttle's own 429 says when to retry, in the API's error shape, and any
    # page may read it (the recorder backs off by it).
    throttled = body["x-amazon-apigateway-gateway-responses"]["THROTTLED"]
    assert throttled["statusCode"] == 429
    headers = throttled["responseParameters"]
    assert int(headers["gatewayresponse.header.Retry-After"].strip("'")) >= 1
    assert headers["gatewayresponse.header.Access-Control-Allow-Origin"] == "'*'"
    assert "Retry-After" in headers["gatewayresponse.header.Access-Control-Expose-Headers"]
    error = json.loads(throttled["responseTemplates"]["application/json"])["error"]
    assert error["code"] == "throttled"
    assert error["message"]


def test_functions_receive_the_stack_resource_names(inventories: dict[str, Inventory]) -> None:
    inventory = inventories["pr-123"]
    variables = find(inventory, FUNCTION, "-api-handler")["inputs"]["environment"]["variables"]
    assert variables["RRWEB_STREAM"] == "rrweb-s3-storage-pr-123-events"
    assert variables["RRWEB_BUCKET"] == inventory.exports["bucket"]
    assert variables["RRWEB_TABLE"] == inventory.exports["table"]
    assert variables["RRWEB_USER_POOL_ID"] == inventory.exports["user_pool_id"]
    assert variables["RRWEB_USER_POOL_CLIENT_ID"] == inventory.exports["user_pool_client_id"]
    assert variables["RRWEB_ACCESS_TABLE"].startswith("rrweb-s3-storage-pr-123-metadata-access")
    assert variables["RRWEB_LIMIT_KEY_REQUESTS"] == str(Limits().key_requests)
    assert variables["RRWEB_LIMIT_CLIENT_REQUESTS"] == str(Limits().client_requests)
    for logical in ("-consume-events", "-compact-recordings"):
        variables = find(inventory, FUNCTION, logical)["inputs"]["environment"]["variables"]
        assert variables["RRWEB_FAILURE_QUEUE_URL"] == inventory.exports["consumer_failures_queue"], logical
        assert variables["RRWEB_COMPACT_IDLE_SECONDS"] == "1800", logical


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


@pytest.mark.parametrize("stack", STACKS)
def test_the_recorder_posts_to_a_public_function_url_that_serves_only_the_ingest_function(
    inventories: dict[str, Inventory], stack: str
) -> None:
    inventory = inventories[stack]
    door = find(inventory, FUNCTION, "-ingest")
    (url,) = inventory.of_type("aws:lambda/functionUrl:FunctionUrl")
    assert url["inputs"]["functionName"] == door["inputs"]["name"]
    # The API checks the ingest key itself, as behind API Gateway; the app answers CORS.
    assert url["inputs"]["authorizationType"] == "NONE"
    assert url["inputs"]["invokeMode"] == "BUFFERED"
    assert "cors" not in url["inputs"]
    grants = [p["inputs"] for p in inventory.of_type(PERMISSION) if p["inputs"]["principal"] == "*"]
    assert {(g["action"], g["function"]) for g in grants} == {
        ("lambda:InvokeFunctionUrl", door["inputs"]["name"]),
        ("lambda:InvokeFunction", door["inputs"]["name"]),
    }
    for grant in grants:
        # Only through the URL: never a plain Invoke by anyone.
        if grant["action"] == "lambda:InvokeFunctionUrl":
            assert grant["functionUrlAuthType"] == "NONE"
        else:
            assert grant["invokedViaFunctionUrl"] is True
    # Its handler is the app's `ingest`, which serves the recorder's routes only.
    assert door["inputs"]["handler"] == "app.ingest"
    # The URL as Lambda gives it, without its trailing slash (the recorder appends paths).
    exported = inventory.exports["ingest_url"]
    assert exported.startswith("https://")
    assert exported.endswith(".lambda-url.us-east-1.on.aws")
    config = next(
        o for o in inventory.of_type("aws:s3/bucketObjectv2:BucketObjectv2") if o["inputs"]["key"] == "config.json"
    )
    # New snippets and the bookmarklet post to the door; old ones (API Gateway's URL) still work.
    assert json.loads(config["inputs"]["content"])["ingestUrl"] == inventory.exports["ingest_url"]


def test_the_ingest_door_is_throttled_by_reserved_concurrency_in_prod(inventories: dict[str, Inventory]) -> None:
    reserved = {
        stack: find(inventories[stack], FUNCTION, "-ingest")["inputs"].get("reservedConcurrentExecutions")
        for stack in ("dev", "prod")
    }
    assert reserved == {"dev": None, "prod": 100}
    # No other function reserves any.
    for stack in ("dev", "prod"):
        others = [f for f in inventories[stack].of_type(FUNCTION) if not f["name"].endswith("-ingest")]
        assert all("reservedConcurrentExecutions" not in f["inputs"] for f in others)


def test_the_ingest_door_has_its_own_memory_on_prod_and_every_other_function_the_stacks(
    inventories: dict[str, Inventory],
) -> None:
    def memory(stack: str, name: str) -> int:
        return int(find(inventories[stack], FUNCTION, name)["inputs"]["memorySize"])

    assert {stack: memory(stack, "-ingest") for stack in ("dev", "prod")} == {"dev": 512, "prod": 512}
    assert {stack: memory(stack, "-api-handler") for stack in ("dev", "prod")} == {"dev": 512, "prod": 1024}
    assert memory("prod", "-compact-recordings") == 2048


def test_functions_log_json_without_lambdas_own_lines_per_invocation(inventories: dict[str, Inventory]) -> None:
    for stack in ("dev", "prod"):
        functions = inventories[stack].of_type(FUNCTION)
        assert functions
        for function in functions:
            config = function["inputs"]["loggingConfig"]
            # WARN leaves out START, END and REPORT (INFO); the functions' own INFO lines stay.
            assert (config["logFormat"], config["systemLogLevel"], config["applicationLogLevel"]) == (
                "JSON",
                "WARN",
                "INFO",
            ), function["name"]


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
    # Screenshots only: one invocation per recording, not one per object its writers make.
    assert target["filterSuffix"] == f"/{layout.SCREENSHOT_NAME}"
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
    door = find(inventory, FUNCTION, "-ingest")["inputs"]["name"]
    consumer = find(inventory, FUNCTION, "-consume-events")["inputs"]["name"]
    watched_consumer = find(inventory, FUNCTION, "-consume-watched-events")["inputs"]["name"]
    compactor = find(inventory, FUNCTION, "-compact-recordings")["inputs"]["name"]
    expiry = find(inventory, FUNCTION, "-expire-recordings")["inputs"]["name"]
    stream = inventory.one("aws:kinesis/stream:Stream")["inputs"]["name"]
    delivery = inventory.one(FIREHOSE)["inputs"]["name"]
    queue = find(inventory, QUEUE, "-reap-orphans-failures")["name"] + "-a1b2c3d"  # the mocks' auto-name
    consumer_queue = inventory.exports["consumer_failures_queue"].rsplit("/", 1)[-1]
    return {
        "api-5xx": ("AWS/ApiGateway", "5XXError", {"ApiName": api, "Stage": stage}),
        "api-handler-errors": ("AWS/Lambda", "Errors", {"FunctionName": handler}),
        "api-handler-throttles": ("AWS/Lambda", "Throttles", {"FunctionName": handler}),
        "ingest-errors": ("AWS/Lambda", "Errors", {"FunctionName": door}),
        "ingest-throttles": ("AWS/Lambda", "Throttles", {"FunctionName": door}),
        "reap-orphans-errors": ("AWS/Lambda", "Errors", {"FunctionName": reaper}),
        "reap-orphans-throttles": ("AWS/Lambda", "Throttles", {"FunctionName": reaper}),
        "consume-events-errors": ("AWS/Lambda", "Errors", {"FunctionName": consumer}),
        "consume-events-throttles": ("AWS/Lambda", "Throttles", {"FunctionName": consumer}),
        "consume-events-iterator-age": ("AWS/Lambda", "IteratorAge", {"FunctionName": consumer}),
        "consume-watched-events-errors": ("AWS/Lambda", "Errors", {"FunctionName": watched_consumer}),
        "consume-watched-events-throttles": ("AWS/Lambda", "Throttles", {"FunctionName": watched_consumer}),
        "consume-watched-events-iterator-age": ("AWS/Lambda", "IteratorAge", {"FunctionName": watched_consumer}),
        "consume-events-failures": ("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": consumer_queue}),
        "compact-recordings-errors": ("AWS/Lambda", "Errors", {"FunctionName": compactor}),
        "compact-recordings-throttles": ("AWS/Lambda", "Throttles", {"FunctionName": compactor}),
        "expire-recordings-errors": ("AWS/Lambda", "Errors", {"FunctionName": expiry}),
        "expire-recordings-throttles": ("AWS/Lambda", "Throttles", {"FunctionName": expiry}),
        "stream-iterator-age": ("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", {"StreamName": stream}),
        "stream-write-throttled": ("AWS/Kinesis", "WriteProvisionedThroughputExceeded", {"StreamName": stream}),
        "delivery-freshness": ("AWS/Firehose", "DeliveryToS3.DataFreshness", {"DeliveryStreamName": delivery}),
        "delivery-failures": ("AWS/Firehose", "DeliveryToS3.Success", {"DeliveryStreamName": delivery}),
        "reap-orphans-dead-letters": ("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": queue}),
    }


@pytest.mark.parametrize("stack", STACKS)
def test_every_alarm_watches_this_stacks_resources_and_notifies_the_topic(
    inventories: dict[str, Inventory], stack: str
) -> None:
    inventory = inventories[stack]
    alarms = alarms_by_role(inventory)
    expected = expected_alarms(inventory)
    assert set(alarms) == {
        *expected,
        "recordings-table-throttled",
        "recordings-indexes-throttled",
        "access-table-throttled",
    }
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
        ("recordings", "-metadata-recordings", {INDEX_PENDING_COMPACTION, schema.INDEX_RECORDINGS_BY_OWNER}),
        ("access", "-metadata-access", {"byOwner"}),
    ):
        table = find(inventory, "aws:dynamodb/table:Table", suffix)
        name = table["inputs"]["name"]
        table_arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{name}"
        # One alarm, or a table alarm and an index alarm when one would name over 10 metrics.
        watching = [alarm for key, alarm in alarms.items() if key.startswith(f"{role}-") and "throttled" in key]
        metrics = []
        for alarm in watching:
            queries = alarm["metricQueries"]
            metrics += [q["metric"] for q in queries if "metric" in q]
            (result,) = [q for q in queries if q.get("returnData")]
            assert result["expression"] == f"SUM([{','.join(q['id'] for q in queries if 'metric' in q)}])"
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


def test_thresholds_leave_room_for_normal_buffering(inventories: dict[str, Inventory]) -> None:
    for stack in STACKS:
        inventory = inventories[stack]
        alarms = alarms_by_role(inventory)
        buffer = firehose_settings(inventory)["bufferingInterval"]
        # The archive flushes once per buffer interval: a record may wait that long by design.
        assert alarms["delivery-freshness"]["threshold"] >= 2 * buffer
        assert alarms["delivery-freshness"]["threshold"] >= 600
        assert "replay does not read the archive" in alarms["delivery-freshness"]["alarmDescription"]
        assert alarms["delivery-failures"]["comparisonOperator"] == "LessThanThreshold"
        assert alarms["delivery-failures"]["threshold"] == 1
        retention_ms = inventory.one("aws:kinesis/stream:Stream")["inputs"]["retentionPeriod"] * 3600 * 1000
        assert alarms["stream-iterator-age"]["threshold"] < retention_ms / 10
        # Each consumer: a minute beyond its own window, every minute for five minutes.
        windows = {
            mapping["functionName"].rsplit("-", 2)[-2]: mapping["maximumBatchingWindowInSeconds"]
            for mapping in consumer_mappings(inventory).values()
        }
        assert set(windows) == {"consume", "watched"}, windows
        for role, window in (("consume-events", windows["consume"]), ("consume-watched-events", windows["watched"])):
            age = alarms[f"{role}-iterator-age"]
            assert (age["statistic"], age["threshold"], age["comparisonOperator"]) == (
                "Maximum",
                60_000 + window * 1000,
                "GreaterThanThreshold",
            ), (stack, role)
            assert (age["period"], age["evaluationPeriods"], age["datapointsToAlarm"]) == (60, 5, 5)
        # Any failure queued, any error of the consumer, any failed compaction run.
        for role in ("consume-events-failures", "consume-events-errors", "compact-recordings-errors"):
            assert (alarms[role]["threshold"], alarms[role]["comparisonOperator"]) == (0, "GreaterThanThreshold"), role
            assert (alarms[role]["evaluationPeriods"], alarms[role]["datapointsToAlarm"]) == (1, 1), role
        # The compactor runs every five minutes: one run is one period.
        assert alarms["compact-recordings-errors"]["period"] == 300
        # Hourly: any failed run alarms, as for the compactor.
        assert alarms["expire-recordings-errors"]["period"] == 3600
        # Firehose and Lambda poll every shard every second: no reads at all is trouble.
        assert alarms["stream-iterator-age"]["treatMissingData"] == "breaching"
        # The failure queues keep their state while SQS sends nothing for them (an idle queue).
        queues = {"consume-events-failures", "reap-orphans-dead-letters"}
        assert {alarms[role]["treatMissingData"] for role in queues} == {"ignore"}, stack
        # The rest exist only on traffic or trouble: silence must not alarm.
        quiet = {role for role, alarm in alarms.items() if alarm["treatMissingData"] == "notBreaching"}
        assert quiet == set(alarms) - {"stream-iterator-age"} - queues, stack


def test_reaper_failures_go_to_an_encrypted_two_week_queue_it_may_only_send_to(
    inventories: dict[str, Inventory],
) -> None:
    inventory = inventories["dev"]
    queue = find(inventory, QUEUE, "-reap-orphans-failures")["inputs"]
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
    consumer_queue = stack_arns(inventory)["queue"]
    assert consumer_queue != queue_arn
    assert queue_arn not in {r for _, r in grants(inventory, "consume-events")}


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
    assert dashboard["dashboardName"] == inventory.exports["dashboard"] == f"rrweb-s3-storage-{stack}-us-east-1"
    body = json.loads(dashboard["dashboardBody"])
    names = metric_names(body)
    own = {dimensions_value for _, _, dims in expected_alarms(inventory).values() for dimensions_value in dims.values()}
    own |= {t["inputs"]["name"] for t in inventory.of_type(TABLE)}
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
        "IteratorAge",
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
    roles = set(alarms_by_role(inventories["dev"]))
    for role in sorted(roles):
        assert f"### `{role}`" in guide, f"docs/operations.md does not explain {role}"
    # ... and explains no alarm the stack no longer has.
    section = guide.split("\n## Alarms\n", 1)[1].split("\n## ", 1)[0]
    explained = set(re.findall(r"^### `([a-z0-9-]+)`", section, flags=re.MULTILINE))
    assert explained <= roles, f"docs/operations.md explains alarms that do not exist: {sorted(explained - roles)}"


def test_the_pools_password_rules_are_the_ones_the_api_names(inventories: dict[str, Inventory]) -> None:
    from chalicelib.settings import PASSWORD_POLICY

    def camel(name: str) -> str:
        head, *rest = name.split("_")
        return head + "".join(part.title() for part in rest)

    for stack in STACKS:
        policy = inventories[stack].one("aws:cognito/userPool:UserPool")["inputs"]["passwordPolicy"]
        expected = {camel(name): value for name, value in PASSWORD_POLICY.pulumi().items()}
        assert {name: policy[name] for name in expected} == expected, stack
        assert policy["minimumLength"] == 12


def _admin_only(inventory: Inventory) -> bool:
    pool = inventory.one("aws:cognito/userPool:UserPool")
    return pool["inputs"]["adminCreateUserConfig"]["allowAdminCreateUserOnly"]


@pytest.mark.parametrize("stack", STACKS)
def test_only_an_administrator_creates_accounts_unless_the_stack_opens_sign_up(
    inventories: dict[str, Inventory], self_sign_up_inventories: dict[str, Inventory], stack: str
) -> None:
    # Open sign-up lets anyone on the internet store recordings on the stack owner's bill.
    assert _admin_only(inventories[stack]) is True, inventories[stack].one("aws:cognito/userPool:UserPool")["urn"]
    assert _admin_only(self_sign_up_inventories[stack]) is False, stack
    # Cognito's own invitation names the address to sign in with and the temporary
    # password; a stack with its own sender words it itself (tests/infra/test_aws_details.py).


@pytest.mark.parametrize("stack", STACKS)
def test_an_email_change_is_kept_out_until_verified_and_an_invitees_password_lasts_as_long_as_the_invite(
    inventories: dict[str, Inventory], stack: str
) -> None:
    from chalicelib.workspaces import INVITE_SECONDS

    pool = inventories[stack].one("aws:cognito/userPool:UserPool")["inputs"]
    # The API trusts the email Cognito reports (an invite is redeemed by it): a user who
    # changed theirs to someone else's address must not be reported with it unverified.
    assert pool["userAttributeUpdateSettings"] == {"attributesRequireVerificationBeforeUpdates": ["email"]}
    assert "email" in pool["autoVerifiedAttributes"]
    assert pool["passwordPolicy"]["temporaryPasswordValidityDays"] * 86400 == INVITE_SECONDS
