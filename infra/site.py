"""Site: a private bucket behind CloudFront serving ``site/`` and the stack's config.json."""

from __future__ import annotations

import json
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from chalicelib.clients import ORIGIN_VERIFY_HEADER, VIEWER_ADDRESS_HEADER
from infra.buckets import deny_insecure_transport, lock_down
from infra.settings import StackSettings

# AWS's managed "CachingOptimized" cache policy.
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
# AWS's managed "CachingDisabled" policy: config.json must reflect the stack at once.
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
# Viewer headers the API reads, which the API's origin request policy forwards (its cache
# policy forwards Authorization and Accept-Encoding, which an origin request policy may
# not name), and the viewer's address, which CloudFront adds. A list rather than "all
# viewer headers": that behaviour cannot add CloudFront's headers without also
# forwarding Host, which API Gateway refuses (it must see its own host name).
API_VIEWER_HEADERS = ("Accept", "Content-Encoding", "Content-Type", "Origin", "User-Agent")
API_PATH = "/api"
# Every object of the site, pages, scripts and config.json alike, is revalidated on each
# use: browsers ask again with the object's ETag (a 304 when nothing changed), and the
# edges keep it no longer than their cache policy's minimum TTL (CachingOptimized: one
# second; config.json's CachingDisabled: none). A deploy therefore takes effect at once,
# and a page never runs last deploy's scripts beside this deploy's config.json. Hashed
# file names are not an option: other sites load assets/recorder.js and
# assets/bookmarklet.js by a fixed URL.
CACHE_CONTROL = "no-cache"
# What other sites load by a fixed URL (the recorder's snippet, the bookmarklet): no page
# of the site names them, so they are required by name.
EMBEDDED_ASSETS = ("assets/recorder.js", "assets/bookmarklet.js")
# A page's own scripts and styles: src="assets/..." or href="assets/...".
_ASSET_REFERENCE = re.compile(r"""(?:src|href)=["'](assets/[^"'?#]+)""")


@dataclass
class SiteArgs:
    """Inputs of the Site component."""

    settings: StackSettings
    content_dir: Path
    # The recorder's door (the ingest function's URL): pages on other sites post there.
    ingest_url: pulumi.Input[str]
    api_domain: pulumi.Input[str]
    region: pulumi.Input[str]
    user_pool_id: pulumi.Input[str]
    client_id: pulumi.Input[str]
    # Sent to the API with every request as X-Origin-Verify (``Api.origin_secret``).
    origin_secret: pulumi.Input[str]


def site_files(content_dir: Path) -> list[Path]:
    """The files the site serves (none until the site is built)."""
    if not content_dir.is_dir():
        return []
    return sorted(path for path in content_dir.rglob("*") if path.is_file())


def missing_assets(content_dir: Path) -> list[str]:
    """The built files the site needs that ``content_dir`` lacks, as paths relative to it.

    ``site/public/assets`` is made by ``make site`` and is not in git: a checkout that was
    never built has the pages but not the scripts they load.
    """
    needed = set(EMBEDDED_ASSETS)
    for page in content_dir.glob("*.html") if content_dir.is_dir() else ():
        needed.update(_ASSET_REFERENCE.findall(page.read_text(encoding="utf-8")))
    return sorted(path for path in needed if not (content_dir / path).is_file())


class SiteNotBuilt(pulumi.RunError):
    """The site's assets are not built: deploying would serve pages without their scripts."""


class Site(pulumi.ComponentResource):
    """CloudFront reads the bucket through origin access control; nothing else can."""

    bucket: aws.s3.Bucket
    api_requests: aws.cloudfront.OriginRequestPolicy
    distribution: aws.cloudfront.Distribution
    url: pulumi.Output[str]

    def __init__(self, name: str, args: SiteArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        missing = missing_assets(args.content_dir)
        if missing:
            raise SiteNotBuilt(
                f"the site is not built: {args.content_dir} lacks {', '.join(missing)}. "
                "Run `make site` before `pulumi up` (or set `rrweb-s3-storage:site false` to deploy without the site)."
            )
        super().__init__("rrweb:index:Site", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)

        # The site is rebuilt from the repository on every deploy: always destroyable.
        self.bucket = aws.s3.Bucket(f"{name}-bucket", force_destroy=True, opts=child)
        public_access = lock_down(name, self.bucket, self)
        # CloudFront's origin access controls and policies are named per account, not per
        # region: the region keeps one stack's names apart from another region's of one name.
        global_prefix = pulumi.Output.concat(settings.prefix, "-", args.region)
        access_control = aws.cloudfront.OriginAccessControl(
            f"{name}-oac",
            name=pulumi.Output.concat(global_prefix, "-site"),
            origin_access_control_origin_type="s3",
            signing_behavior="always",
            signing_protocol="sigv4",
            opts=child,
        )
        origin_id = "site-bucket"
        api_origin_id = "api"
        # CloudFront forwards Authorization only when it is part of the cache key, and a
        # policy with all TTLs 0 may not name key headers: hence TTLs 0/0/1, which caches
        # nothing the API does not explicitly allow (its responses say nothing about
        # caching), keyed per caller.
        api_cache = aws.cloudfront.CachePolicy(
            f"{name}-api-cache",
            name=pulumi.Output.concat(global_prefix, "-api"),
            comment="API through the site's domain: per caller, effectively uncached",
            min_ttl=0,
            default_ttl=0,
            max_ttl=1,
            parameters_in_cache_key_and_forwarded_to_origin={
                "headers_config": {"header_behavior": "whitelist", "headers": {"items": ["Authorization"]}},
                "query_strings_config": {"query_string_behavior": "all"},
                "cookies_config": {"cookie_behavior": "none"},
                "enable_accept_encoding_gzip": True,
            },
            opts=child,
        )
        # The viewer's address reaches the API (CloudFront-Viewer-Address), so the API's
        # per-address limits count viewers, not the edge servers they share.
        self.api_requests = aws.cloudfront.OriginRequestPolicy(
            f"{name}-api-requests",
            name=pulumi.Output.concat(global_prefix, "-api"),
            comment="API through the site's domain: the headers the API reads, and the viewer's address",
            headers_config={
                "header_behavior": "whitelist",
                "headers": {"items": [*API_VIEWER_HEADERS, VIEWER_ADDRESS_HEADER]},
            },
            query_strings_config={"query_string_behavior": "all"},
            cookies_config={"cookie_behavior": "none"},
            opts=child,
        )
        self.distribution = aws.cloudfront.Distribution(
            f"{name}-cdn",
            enabled=True,
            comment=f"{settings.prefix} site",
            default_root_object="index.html",
            price_class="PriceClass_100",
            origins=[
                {
                    "origin_id": origin_id,
                    "domain_name": self.bucket.bucket_regional_domain_name,
                    "origin_access_control_id": access_control.id,
                },
                {
                    # The API under the site's own domain: the site calls it same-origin.
                    "origin_id": api_origin_id,
                    "domain_name": args.api_domain,
                    "custom_origin_config": {
                        "http_port": 80,
                        "https_port": 443,
                        "origin_protocol_policy": "https-only",
                        "origin_ssl_protocols": ["TLSv1.2"],
                    },
                    # Proves to the API that a request came through this distribution (a
                    # viewer's own header of this name is not forwarded: the policy above
                    # does not name it).
                    "custom_headers": [{"name": ORIGIN_VERIFY_HEADER, "value": args.origin_secret}],
                },
            ],
            default_cache_behavior={
                "target_origin_id": origin_id,
                "viewer_protocol_policy": "redirect-to-https",
                "allowed_methods": ["GET", "HEAD"],
                "cached_methods": ["GET", "HEAD"],
                "cache_policy_id": CACHING_OPTIMIZED,
                "compress": True,
            },
            ordered_cache_behaviors=[
                {
                    "path_pattern": f"{API_PATH}/*",
                    "target_origin_id": api_origin_id,
                    "viewer_protocol_policy": "https-only",
                    "allowed_methods": ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"],
                    "cached_methods": ["GET", "HEAD"],
                    "cache_policy_id": api_cache.id,
                    "origin_request_policy_id": self.api_requests.id,
                    "compress": False,
                },
                {
                    "path_pattern": "/config.json",
                    "target_origin_id": origin_id,
                    "viewer_protocol_policy": "redirect-to-https",
                    "allowed_methods": ["GET", "HEAD"],
                    "cached_methods": ["GET", "HEAD"],
                    "cache_policy_id": CACHING_DISABLED,
                },
            ],
            restrictions={"geo_restriction": {"restriction_type": "none"}},
            # With the default *.cloudfront.net certificate CloudFront ignores a minimum
            # protocol version (its policy stays TLSv1); one applies only to a custom
            # domain's certificate.
            viewer_certificate={"cloudfront_default_certificate": True},
            opts=child,
        )
        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=self.bucket.id,
            policy=pulumi.Output.all(self.bucket.arn, self.distribution.arn).apply(
                lambda a: site_bucket_policy(bucket_arn=a[0], distribution_arn=a[1])
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access]),
        )
        for path in site_files(args.content_dir):
            key = path.relative_to(args.content_dir).as_posix()
            aws.s3.BucketObjectv2(
                f"{name}-file-{key}",
                bucket=self.bucket.id,
                key=key,
                source=pulumi.FileAsset(str(path)),
                content_type=mimetypes.guess_type(path.name)[0] or "application/octet-stream",
                cache_control=CACHE_CONTROL,
                opts=child,
            )
        aws.s3.BucketObjectv2(
            f"{name}-config",
            bucket=self.bucket.id,
            key="config.json",
            # The site calls the API same-origin (apiUrl); pages it records on other sites
            # post straight to the ingest function's URL (ingestUrl).
            content=pulumi.Output.all(args.ingest_url, args.region, args.user_pool_id, args.client_id).apply(
                lambda a: json.dumps(
                    {
                        "apiUrl": API_PATH,
                        "ingestUrl": a[0],
                        "region": a[1],
                        "userPoolId": a[2],
                        "userPoolClientId": a[3],
                    }
                )
            ),
            content_type="application/json",
            cache_control=CACHE_CONTROL,
            opts=child,
        )
        self.url = self.distribution.domain_name.apply(lambda domain: f"https://{domain}/")
        self.register_outputs({"url": self.url, "bucket": self.bucket.id})


def site_bucket_policy(*, bucket_arn: str, distribution_arn: str) -> str:
    """Only this distribution may read objects, and only over TLS."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "CloudFrontReadsSite",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudfront.amazonaws.com"},
                    "Action": "s3:GetObject",
                    "Resource": f"{bucket_arn}/*",
                    "Condition": {"StringEquals": {"AWS:SourceArn": distribution_arn}},
                },
                deny_insecure_transport(bucket_arn),
            ],
        }
    )
