"""Storage: the stack's recordings bucket (private, encrypted, TLS-only, lifecycle)."""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import pulumi
import pulumi_aws as aws

from chalicelib.lifecycle import bucket_rules
from infra.buckets import deny_insecure_transport, lock_down
from infra.settings import StackSettings

# Screenshots are uploaded by the recorded page itself (any origin) with a presigned POST,
# page assets with a presigned PUT whose signature pins these headers (assets.py).
UPLOAD_RULE: aws.s3.BucketCorsConfigurationCorsRuleArgsDict = {
    "allowed_methods": ["POST", "PUT"],
    "allowed_origins": ["*"],
    "allowed_headers": ["*"],
    "max_age_seconds": 3600,
}
# The replay page fetches compacted event blocks straight from the bucket (presigned
# GETs with a Range header) and needs to read which bytes it got.
READ_METHODS = ["GET", "HEAD"]
READ_HEADERS = ["Range"]
READ_EXPOSED_HEADERS = ["Content-Length", "Content-Range", "ETag"]


def _snake(name: str) -> str:
    # Python's keyword: Pulumi spells the filter's "And" block ``and_``.
    if name in ("ID", "And"):
        return {"ID": "id", "And": "and_"}[name]
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def pulumi_rule(rule: dict[str, Any]) -> aws.s3.BucketLifecycleConfigurationRuleArgsDict:
    """A lifecycle rule in S3's spelling (``chalicelib.lifecycle``), in Pulumi's."""

    def spelled(value: Any) -> Any:
        if isinstance(value, list):
            return [spelled(inner) for inner in value]  # Transitions: a list of blocks
        return {_snake(key): spelled(inner) for key, inner in value.items()} if isinstance(value, dict) else value

    return cast(aws.s3.BucketLifecycleConfigurationRuleArgsDict, spelled(rule))


@dataclass
class StorageArgs:
    """Inputs of the Storage component."""

    settings: StackSettings


class Storage(pulumi.ComponentResource):
    """The bucket holding events, screenshots, the raw archive and Firehose error output.

    Its CORS configuration names the site's origin, which exists only after the Site
    component: the composition root calls ``allow_site_reads`` once the site is built.
    """

    bucket: aws.s3.Bucket
    cors: aws.s3.BucketCorsConfiguration | None = None

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("rrweb:index:Storage", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)
        self._name = name

        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            # Dev and PR stacks tear down completely, objects included; prod keeps its data.
            force_destroy=not settings.protect_data,
            tags={"rrweb:stack": settings.stack},
            opts=settings.data_options(self),
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership", bucket=self.bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=child
        )
        public_access = lock_down(name, self.bucket, self)
        if settings.versioning:
            aws.s3.BucketVersioning(
                f"{name}-versioning", bucket=self.bucket.id, versioning_configuration={"status": "Enabled"}, opts=child
            )
        rules = bucket_rules(
            retention_days=settings.retention_days,
            archive_retention_days=settings.archive_retention_days,
            versioning=settings.versioning,
            glacier_after_days=settings.glacier_after_days,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle", bucket=self.bucket.id, rules=[pulumi_rule(rule) for rule in rules], opts=child
        )
        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=self.bucket.id,
            policy=self.bucket.arn.apply(tls_only_policy),
            # The account's public-access block must exist before any bucket policy.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access]),
        )
        self.register_outputs({"bucket": self.bucket.id, "bucket_arn": self.bucket.arn})

    def allow_site_reads(self, origins: pulumi.Input[Sequence[pulumi.Input[str]]]) -> aws.s3.BucketCorsConfiguration:
        """The bucket's CORS: uploads (POST) from any page, reads (GET, HEAD) from ``origins`` only.

        ``origins`` are the site's URL and ``allowedOrigins`` (URLs are cut to their
        origin, as browsers send it). A bucket has one CORS configuration, so this is
        called exactly once. No origins (a stack without the site and without
        ``allowedOrigins``) means no read rule: S3 refuses a rule that names no origin.
        """
        if self.cors is not None:
            raise ValueError(f"{self._name}: the bucket's CORS configuration is already set")
        # from_input resolves the inputs inside the list too: each url is a str here.
        readers = pulumi.Output.from_input(origins).apply(
            lambda urls: sorted({origin_of(cast(str, url)) for url in urls})
        )
        self.cors = aws.s3.BucketCorsConfiguration(
            f"{self._name}-cors",
            bucket=self.bucket.id,
            cors_rules=readers.apply(lambda allowed: [UPLOAD_RULE, *([read_rule(allowed)] if allowed else [])]),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return self.cors


def read_rule(origins: list[str]) -> aws.s3.BucketCorsConfigurationCorsRuleArgsDict:
    """The CORS rule that lets pages of ``origins`` read objects (presigned GETs of event blocks)."""
    return {
        "allowed_methods": READ_METHODS,
        "allowed_origins": origins,
        "allowed_headers": READ_HEADERS,
        "expose_headers": READ_EXPOSED_HEADERS,
        "max_age_seconds": 3600,
    }


def origin_of(url: str) -> str:
    """``https://d111.cloudfront.net/`` -> ``https://d111.cloudfront.net`` (scheme, host, port)."""
    parts = urllib.parse.urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"{url!r} is not an origin")
    return f"{parts.scheme}://{parts.netloc}"


def tls_only_policy(bucket_arn: str) -> str:
    """Deny every request to the bucket or its objects that does not use TLS."""
    return json.dumps({"Version": "2012-10-17", "Statement": [deny_insecure_transport(bucket_arn)]})
