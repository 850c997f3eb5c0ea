"""Metadata: the DynamoDB table of recordings, with the keys and index the API queries."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from chalicelib import schema
from infra.settings import StackSettings


@dataclass
class MetadataArgs:
    """Inputs of the Metadata component."""

    settings: StackSettings


class Metadata(pulumi.ComponentResource):
    """On-demand tables (``chalicelib.schema``): recordings (one ``pk`` per recording, GSIs
    ``byOwner`` and the sparse ``byPendingCompaction``, idempotency items that expire by
    TTL) and access (ingest keys by ``pk``, GSI ``byOwner``; rate counters that expire by
    TTL). No local secondary index: no owner's items are bound to a 10 GB collection."""

    table: aws.dynamodb.Table
    access_table: aws.dynamodb.Table

    def __init__(self, name: str, args: MetadataArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("rrweb:index:Metadata", name, None, opts)
        settings = args.settings
        # Keys, indexes and TTL come from chalicelib.schema, as the local stack's do.
        self.table = aws.dynamodb.Table(
            f"{name}-recordings",
            billing_mode="PAY_PER_REQUEST",
            **schema.RECORDINGS.pulumi(),
            point_in_time_recovery={"enabled": settings.point_in_time_recovery},
            # DynamoDB always encrypts at rest (with an AWS-owned key unless told otherwise).
            deletion_protection_enabled=settings.protect_data,
            tags={"rrweb:stack": settings.stack},
            opts=settings.data_options(self),
        )
        self.access_table = aws.dynamodb.Table(
            f"{name}-access",
            billing_mode="PAY_PER_REQUEST",
            **schema.ACCESS.pulumi(),
            point_in_time_recovery={"enabled": settings.point_in_time_recovery},
            deletion_protection_enabled=settings.protect_data,
            tags={"rrweb:stack": settings.stack},
            opts=settings.data_options(self),
        )
        self.register_outputs({"table": self.table.name, "access_table": self.access_table.name})
