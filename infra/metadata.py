"""Metadata: the DynamoDB table of recordings, with the keys and index the API queries."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from chalicelib.keys import INDEX_BY_OWNER
from chalicelib.recordings import INDEX_BY_CREATED, INDEX_PENDING_COMPACTION, PENDING_ATTRIBUTE, TTL_ATTRIBUTE
from infra.settings import StackSettings


@dataclass
class MetadataArgs:
    """Inputs of the Metadata component."""

    settings: StackSettings


class Metadata(pulumi.ComponentResource):
    """On-demand tables: recordings (``owner``/``recordingId``, LSI ``byCreated``, sparse GSI
    ``byPendingCompaction``) and access (ingest keys by ``pk``, GSI ``byOwner``; rate
    counters that expire by TTL)."""

    table: aws.dynamodb.Table
    access_table: aws.dynamodb.Table

    def __init__(self, name: str, args: MetadataArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("rrweb:index:Metadata", name, None, opts)
        settings = args.settings
        self.table = aws.dynamodb.Table(
            f"{name}-recordings",
            billing_mode="PAY_PER_REQUEST",
            hash_key="owner",
            range_key="recordingId",
            attributes=[
                {"name": "owner", "type": "S"},
                {"name": "recordingId", "type": "S"},
                {"name": "createdKey", "type": "S"},
                {"name": PENDING_ATTRIBUTE, "type": "S"},
                {"name": "updatedAt", "type": "N"},
            ],
            local_secondary_indexes=[
                {"name": INDEX_BY_CREATED, "range_key": "createdKey", "projection_type": "ALL"},
            ],
            # Sparse: only recordings with events not yet compacted carry the attribute
            # (one of a few shard values, so no single hot partition), oldest update
            # first. The compactor reads the keys and fetches the item itself.
            global_secondary_indexes=[
                {
                    "name": INDEX_PENDING_COMPACTION,
                    "hash_key": PENDING_ATTRIBUTE,
                    "range_key": "updatedAt",
                    "projection_type": "KEYS_ONLY",
                }
            ],
            ttl={"attribute_name": TTL_ATTRIBUTE, "enabled": True},
            point_in_time_recovery={"enabled": settings.point_in_time_recovery},
            # DynamoDB always encrypts at rest (with an AWS-owned key unless told otherwise).
            deletion_protection_enabled=settings.protect_data,
            tags={"rrweb:stack": settings.stack},
            opts=settings.data_options(self),
        )
        self.access_table = aws.dynamodb.Table(
            f"{name}-access",
            billing_mode="PAY_PER_REQUEST",
            hash_key="pk",
            attributes=[
                {"name": "pk", "type": "S"},
                {"name": "owner", "type": "S"},
                {"name": "createdAt", "type": "N"},
            ],
            global_secondary_indexes=[
                {
                    "name": INDEX_BY_OWNER,
                    "hash_key": "owner",
                    "range_key": "createdAt",
                    "projection_type": "INCLUDE",
                    "non_key_attributes": ["keyId", "name", "revokedAt"],
                }
            ],
            ttl={"attribute_name": TTL_ATTRIBUTE, "enabled": True},
            point_in_time_recovery={"enabled": settings.point_in_time_recovery},
            deletion_protection_enabled=settings.protect_data,
            tags={"rrweb:stack": settings.stack},
            opts=settings.data_options(self),
        )
        self.register_outputs({"table": self.table.name, "access_table": self.access_table.name})
