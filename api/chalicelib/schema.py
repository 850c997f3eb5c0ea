"""The stack's DynamoDB tables, written once: keys, indexes and time to live.

The Pulumi program (``infra/metadata.py``), the local stack and the in-process tests
(``local/resources.py``) create the tables from these definitions, and the API's
queries name the same indexes, so the three can never disagree.

The recordings table is keyed by ``pk`` alone (see ``recordings.py``): one partition key
per recording, so no owner's items share a partition or an item collection. Indexes
whose keys change often are KEYS_ONLY, so an update writes the index only when one of
its keys changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TTL_ATTRIBUTE = "expiresAt"

# Recordings table
RECORDINGS_KEY = "pk"
# An owner's recordings, newest first (``createdKey``); keys only, the page's items are
# read with BatchGetItem.
INDEX_RECORDINGS_BY_OWNER = "byOwner"
# An identified visitor's recordings in one workspace (sparse: only items with a user):
# ``ownerUser`` is "<owner>#<userId>"; what deleting a person reads, never a Scan.
INDEX_RECORDINGS_BY_USER = "byUser"
OWNER_USER_ATTRIBUTE = "ownerUser"
# Recordings with events not yet compacted (sparse: see ``compaction.py``).
INDEX_PENDING_COMPACTION = "byPendingCompaction"
PENDING_ATTRIBUTE = "pendingCompaction"
# Its sort key: when the recording was last seen active, refreshed at most every
# ``settings.ACTIVE_REFRESH_SECONDS`` (so counting a chunk rarely rewrites the index).
ACTIVE_ATTRIBUTE = "activeAt"
# On a recording compaction gave up on (out of the pending index, its chunks kept), until
# a later compaction of it succeeds.
SET_ASIDE_ATTRIBUTE = "compactionSetAside"

# Access table: ingest keys (``key#<id>``), rate-budget counters (``rate#...``) and
# workspaces with their members (``workspaces.py``).
ACCESS_KEY = "pk"
INDEX_KEYS_BY_OWNER = "byOwner"
# A workspace's members, and a user's workspaces, oldest first (sparse: only those items
# have a ``parent``).
INDEX_BY_PARENT = "byParent"
PARENT_ATTRIBUTE = "parent"


@dataclass(frozen=True, kw_only=True)
class GlobalIndex:
    """A global secondary index: its keys and what it projects."""

    name: str
    hash_key: str
    range_key: str
    projection: str = "KEYS_ONLY"
    non_key_attributes: tuple[str, ...] = ()

    def boto3(self) -> dict[str, Any]:
        """The index as ``CreateTable`` takes it."""
        projection: dict[str, Any] = {"ProjectionType": self.projection}
        if self.non_key_attributes:
            projection["NonKeyAttributes"] = list(self.non_key_attributes)
        return {
            "IndexName": self.name,
            "KeySchema": [
                {"AttributeName": self.hash_key, "KeyType": "HASH"},
                {"AttributeName": self.range_key, "KeyType": "RANGE"},
            ],
            "Projection": projection,
        }

    def pulumi(self) -> dict[str, Any]:
        """The index as ``aws.dynamodb.Table(global_secondary_indexes=...)`` takes it.

        Keys as a key schema, as ``CreateTable`` takes them: the provider deprecates an
        index's ``hash_key`` and ``range_key`` for it.
        """
        args: dict[str, Any] = {
            "name": self.name,
            "key_schemas": [
                {"attribute_name": self.hash_key, "key_type": "HASH"},
                {"attribute_name": self.range_key, "key_type": "RANGE"},
            ],
            "projection_type": self.projection,
        }
        if self.non_key_attributes:
            args["non_key_attributes"] = list(self.non_key_attributes)
        return args


@dataclass(frozen=True, kw_only=True)
class TableSchema:
    """One table: its hash key, typed key attributes, indexes and TTL attribute."""

    hash_key: str
    # Every attribute a key of the table or an index uses: name -> "S" or "N".
    attributes: dict[str, str]
    indexes: tuple[GlobalIndex, ...] = field(default_factory=tuple)
    ttl_attribute: str = TTL_ATTRIBUTE

    def boto3(self) -> dict[str, Any]:
        """Keyword arguments of ``CreateTable`` (with the billing mode the caller picks)."""
        schema: dict[str, Any] = {
            "KeySchema": [{"AttributeName": self.hash_key, "KeyType": "HASH"}],
            "AttributeDefinitions": [
                {"AttributeName": name, "AttributeType": kind} for name, kind in self.attributes.items()
            ],
        }
        if self.indexes:
            schema["GlobalSecondaryIndexes"] = [index.boto3() for index in self.indexes]
        return schema

    def pulumi(self) -> dict[str, Any]:
        """Keyword arguments of ``aws.dynamodb.Table`` for keys, indexes and TTL."""
        return {
            "hash_key": self.hash_key,
            "attributes": [{"name": name, "type": kind} for name, kind in self.attributes.items()],
            "global_secondary_indexes": [index.pulumi() for index in self.indexes],
            "ttl": {"attribute_name": self.ttl_attribute, "enabled": True},
        }


RECORDINGS = TableSchema(
    hash_key=RECORDINGS_KEY,
    attributes={
        RECORDINGS_KEY: "S",
        "owner": "S",
        "createdKey": "S",
        PENDING_ATTRIBUTE: "S",
        ACTIVE_ATTRIBUTE: "N",
        OWNER_USER_ATTRIBUTE: "S",
    },
    indexes=(
        GlobalIndex(name=INDEX_RECORDINGS_BY_OWNER, hash_key="owner", range_key="createdKey"),
        GlobalIndex(name=INDEX_RECORDINGS_BY_USER, hash_key=OWNER_USER_ATTRIBUTE, range_key="createdKey"),
        GlobalIndex(name=INDEX_PENDING_COMPACTION, hash_key=PENDING_ATTRIBUTE, range_key=ACTIVE_ATTRIBUTE),
    ),
)

ACCESS = TableSchema(
    hash_key=ACCESS_KEY,
    attributes={ACCESS_KEY: "S", "owner": "S", "createdAt": "N", PARENT_ATTRIBUTE: "S"},
    indexes=(
        GlobalIndex(
            name=INDEX_KEYS_BY_OWNER,
            hash_key="owner",
            range_key="createdAt",
            projection="INCLUDE",
            non_key_attributes=("keyId", "name", "revokedAt", "requestsPerMinute", "bytesPerMinute"),
        ),
        GlobalIndex(name=INDEX_BY_PARENT, hash_key=PARENT_ATTRIBUTE, range_key="createdAt", projection="ALL"),
    ),
)
