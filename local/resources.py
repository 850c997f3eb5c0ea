"""The stack's data-plane resources, created through the AWS API.

The local stack and the in-process tests call ``provision`` against moto; the names
follow the same project-plus-stack rule as every deployed stack, and the archive's
delivery stream is defined with the very prefixes the Pulumi program uses
(``chalicelib.layout``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib import environment as env
from chalicelib import layout, schema
from chalicelib.settings import PASSWORD_POLICY

PROJECT = "rrweb-s3-storage"
ACCOUNT = "123456789012"
# The local stack is a demo on one machine: anyone who can reach it may create an
# account. Deployed stacks take sign-ups only with ``selfSignUp`` (infra/settings.py).
LOCAL_SELF_SIGN_UP = True
# The local stack's own variable: the queue of the bucket's object-created notifications.
OBJECT_CREATED_QUEUE_ENV = "RRWEB_LOCAL_OBJECT_CREATED_QUEUE_URL"


@dataclass(frozen=True, kw_only=True)
class Names:
    """Physical names of one stack's resources."""

    bucket: str
    table: str
    access_table: str
    stream: str
    delivery: str
    user_pool: str
    # The stream consumer's on-failure destination (an SQS queue)
    failures: str
    # Where the bucket's object-created notifications go (an SQS queue): on AWS they
    # invoke the reaper function directly, which moto cannot, so the local stack reads
    # them from here and invokes it (``local/notifications.py``).
    object_created: str

    @classmethod
    def for_stack(cls, stack: str) -> Names:
        """Every name derives from project and stack, so stacks never collide."""
        base = f"{PROJECT}-{stack}"
        return cls(
            bucket=f"{base}-recordings",
            table=f"{base}-recordings",
            access_table=f"{base}-access",
            stream=f"{base}-events",
            delivery=f"{base}-delivery",
            user_pool=f"{base}-users",
            failures=f"{base}-consume-events-failures",
            object_created=f"{base}-object-created",
        )

    def environment(self) -> dict[str, str]:
        """The variables that tell the API which resources to use (Cognito ids come from ``provision``)."""
        return {
            env.BUCKET: self.bucket,
            env.TABLE: self.table,
            env.ACCESS_TABLE: self.access_table,
            env.STREAM: self.stream,
        }


def _exists(call: Any, missing: str) -> bool:
    try:
        call()
    except Exception as exc:  # botocore raises service-specific classes
        if type(exc).__name__ == missing:
            return False
        raise
    return True


def provision(
    session: Any,
    names: Names,
    *,
    buffer_seconds: int = 300,
    buffer_mb: int = 128,
    shards: int | None = None,
    notify: bool = True,
    lifecycle: list[dict[str, Any]] | None = None,
) -> dict[str, str]:
    """Create the stack's resources unless they exist; returns the Cognito ids and the queues.

    ``shards`` provisions the stream with that many shards (the ``provisioned`` mode);
    None makes it on-demand. ``notify=False`` leaves the bucket's notification off, for
    a caller that first restores objects whose notifications were handled before
    (``notify_object_created`` turns it on). ``lifecycle`` (rules in S3's shape,
    ``chalicelib.lifecycle.bucket_rules``) is set as the bucket's lifecycle configuration;
    ``local/lifecycle.py`` applies it.
    """
    s3 = session.client("s3")
    dynamodb = session.client("dynamodb")
    kinesis = session.client("kinesis")
    firehose = session.client("firehose")

    if not _exists(lambda: s3.head_bucket(Bucket=names.bucket), "ClientError"):
        s3.create_bucket(Bucket=names.bucket)
    if lifecycle is not None:
        s3.put_bucket_lifecycle_configuration(Bucket=names.bucket, LifecycleConfiguration={"Rules": lifecycle})

    for name, table in ((names.table, schema.RECORDINGS), (names.access_table, schema.ACCESS)):
        _table(dynamodb, name, table)

    if not _exists(lambda: kinesis.describe_stream_summary(StreamName=names.stream), "ResourceNotFoundException"):
        if shards is None:
            kinesis.create_stream(StreamName=names.stream, StreamModeDetails={"StreamMode": "ON_DEMAND"})
        else:
            kinesis.create_stream(
                StreamName=names.stream, ShardCount=shards, StreamModeDetails={"StreamMode": "PROVISIONED"}
            )
        kinesis.get_waiter("stream_exists").wait(StreamName=names.stream, WaiterConfig={"Delay": 0.1})
    stream_arn = kinesis.describe_stream_summary(StreamName=names.stream)["StreamDescriptionSummary"]["StreamARN"]

    if not _exists(
        lambda: firehose.describe_delivery_stream(DeliveryStreamName=names.delivery), "ResourceNotFoundException"
    ):
        role = f"arn:aws:iam::{ACCOUNT}:role/{names.delivery}"
        firehose.create_delivery_stream(
            DeliveryStreamName=names.delivery,
            DeliveryStreamType="KinesisStreamAsSource",
            KinesisStreamSourceConfiguration={"KinesisStreamARN": stream_arn, "RoleARN": role},
            ExtendedS3DestinationConfiguration={
                "RoleARN": role,
                "BucketARN": f"arn:aws:s3:::{names.bucket}",
                "Prefix": layout.ARCHIVE_PREFIX_TEMPLATE,
                "ErrorOutputPrefix": layout.ERROR_PREFIX_TEMPLATE,
                "CompressionFormat": "GZIP",
                "BufferingHints": {"IntervalInSeconds": buffer_seconds, "SizeInMBs": buffer_mb},
            },
        )

    sqs = session.client("sqs")
    queue_url = sqs.create_queue(QueueName=names.failures)["QueueUrl"]
    notifications = sqs.create_queue(QueueName=names.object_created)["QueueUrl"]
    if notify:
        notify_object_created(session, names)
    return {
        **_user_pool(session.client("cognito-idp"), names),
        env.FAILURE_QUEUE_URL: queue_url,
        OBJECT_CREATED_QUEUE_ENV: notifications,
    }


def notify_object_created(session: Any, names: Names) -> None:
    """Have the bucket notify the stack's queue of every screenshot created under ``recordings/``.

    On AWS the same notification (same events, same prefix and suffix filter:
    ``infra/api.py``) invokes the reaper function; locally ``local/notifications.py``
    reads the queue.
    """
    s3 = session.client("s3")
    s3.put_bucket_notification_configuration(
        Bucket=names.bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": "object-created",
                    "QueueArn": f"arn:aws:sqs:{s3.meta.region_name}:{ACCOUNT}:{names.object_created}",
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {
                        "Key": {
                            "FilterRules": [
                                {"Name": "prefix", "Value": layout.RECORDINGS_ROOT},
                                {"Name": "suffix", "Value": f"/{layout.SCREENSHOT_NAME}"},
                            ]
                        }
                    },
                }
            ]
        },
    )


def _table(dynamodb: Any, name: str, table: schema.TableSchema) -> None:
    """Create the table as ``schema`` defines it, or refuse one kept from an older layout."""
    try:
        existing = dynamodb.describe_table(TableName=name)["Table"]
    except Exception as exc:  # botocore raises service-specific classes
        if type(exc).__name__ != "ResourceNotFoundException":
            raise
    else:
        keys = [key["AttributeName"] for key in existing["KeySchema"]]
        if keys != [table.hash_key]:
            raise RuntimeError(
                f"table {name} is keyed by {keys}, not [{table.hash_key!r}]: it holds an older layout. "
                "Start the local stack with a fresh data directory (or remove the old one)."
            )
        return
    dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **table.boto3())
    dynamodb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute}
    )


def _user_pool(cognito: Any, names: Names) -> dict[str, str]:
    """The pool and site client, found by name (a restarted local stack restores them)."""
    pools = cognito.list_user_pools(MaxResults=60)["UserPools"]
    pool_id = next((pool["Id"] for pool in pools if pool["Name"] == names.user_pool), None)
    if pool_id is None:
        pool_id = cognito.create_user_pool(
            PoolName=names.user_pool,
            UsernameAttributes=["email"],
            AutoVerifiedAttributes=["email"],
            Policies={"PasswordPolicy": PASSWORD_POLICY.cognito()},
            AdminCreateUserConfig={"AllowAdminCreateUserOnly": not LOCAL_SELF_SIGN_UP},
            AccountRecoverySetting={"RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]},
        )["UserPool"]["Id"]
    clients = cognito.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
    client_id = next((c["ClientId"] for c in clients if c["ClientName"] == "site"), None)
    if client_id is None:
        client_id = cognito.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName="site",
            GenerateSecret=False,
            ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )["UserPoolClient"]["ClientId"]
    return {env.USER_POOL_ID: pool_id, env.USER_POOL_CLIENT_ID: client_id}
