"""rrweb-s3-storage: the Pulumi program (composition root).

Reads the stack's config once, builds the components, exports what users need.
"""

import sys
from pathlib import Path

import pulumi
import pulumi_aws as aws

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(ROOT / "api")]  # the app's domain constants shape the infra

from infra.api import Api, ApiArgs  # noqa: E402
from infra.auth import Auth, AuthArgs  # noqa: E402
from infra.ingest import Ingest, IngestArgs  # noqa: E402
from infra.metadata import Metadata, MetadataArgs  # noqa: E402
from infra.monitoring import Monitoring, MonitoringArgs  # noqa: E402
from infra.packaging import package  # noqa: E402
from infra.settings import StackSettings  # noqa: E402
from infra.site import Site, SiteArgs  # noqa: E402
from infra.storage import Storage, StorageArgs  # noqa: E402

settings = StackSettings.from_config(pulumi.Config(), pulumi.get_stack())
account_id = aws.get_caller_identity_output().account_id
region = aws.get_region_output().region

storage = Storage(f"{settings.prefix}-storage", StorageArgs(settings=settings))
metadata = Metadata(f"{settings.prefix}-metadata", MetadataArgs(settings=settings))
ingest = Ingest(
    f"{settings.prefix}-ingest",
    IngestArgs(settings=settings, bucket_arn=storage.bucket.arn, account_id=account_id),
)
auth = Auth(f"{settings.prefix}-auth", AuthArgs(settings=settings, account_id=account_id, region=region))
api = Api(
    f"{settings.prefix}-api",
    ApiArgs(
        settings=settings,
        package=package(
            settings.chalice_stage, runtime=settings.lambda_runtime, architecture=settings.lambda_architecture
        ),
        bucket=storage.bucket.id,
        bucket_arn=storage.bucket.arn,
        table=metadata.table.name,
        table_arn=metadata.table.arn,
        access_table=metadata.access_table.name,
        access_table_arn=metadata.access_table.arn,
        user_pool_id=auth.user_pool.id,
        user_pool_arn=auth.user_pool.arn,
        user_pool_client_id=auth.client.id,
        stream=ingest.stream.name,
        stream_arn=ingest.stream.arn,
        account_id=account_id,
        region=region,
    ),
)
# Without the site (`site: false`, an account CloudFront does not serve yet) nothing
# sends the API the origin secret: every request is counted by its own source address.
site = (
    Site(
        f"{settings.prefix}-site",
        SiteArgs(
            settings=settings,
            content_dir=ROOT / "site" / "public",
            ingest_url=api.ingest_url,
            api_domain=api.domain,
            region=region,
            user_pool_id=auth.user_pool.id,
            client_id=auth.client.id,
            origin_secret=api.origin_secret,
        ),
    )
    if settings.site
    else None
)
# The replay page reads compacted event blocks straight from the bucket: its origin
# (known only now that the site exists) and the extra allowed origins may GET them.
storage.allow_site_reads([*([site.url] if site else []), *settings.allowed_origins])
monitoring = Monitoring(
    f"{settings.prefix}-monitoring",
    MonitoringArgs(
        settings=settings,
        account_id=account_id,
        region=region,
        api_name=api.rest_api.name,
        stage=api.stage.stage_name,
        functions={logical: function.name for logical, function in api.functions.items()},
        stream=ingest.stream.name,
        delivery_stream=ingest.delivery.name,
        table=metadata.table.name,
        access_table=metadata.access_table.name,
        reaper_failures=api.reaper_failures.name,
        consumer_failures=api.consumer_failures.name,
    ),
)

pulumi.export("api_url", api.url)
pulumi.export("ingest_url", api.ingest_url)
if site:
    pulumi.export("site_url", site.url)
pulumi.export("bucket", storage.bucket.id)
pulumi.export("table", metadata.table.name)
pulumi.export("stream", ingest.stream.name)
pulumi.export("delivery_stream", ingest.delivery.name)
pulumi.export("user_pool_id", auth.user_pool.id)
pulumi.export("user_pool_client_id", auth.client.id)
pulumi.export("alarm_topic_arn", monitoring.topic.arn)
pulumi.export("dashboard", monitoring.dashboard.dashboard_name)
pulumi.export("reaper_dead_letter_queue", api.reaper_failures.url)
pulumi.export("consumer_failures_queue", api.consumer_failures.url)
