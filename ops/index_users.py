"""``python -m ops.index_users``: put recordings identified before the ``byUser`` index existed into it.

Deleting a person (``DELETE /people/<id>/recordings``) finds their recordings through the
recordings table's ``byUser`` index, which recordings identified from then on join by
themselves. Run this once per stack after the upgrade that added the index, with the
stack's table named in ``RRWEB_TABLE`` (`pulumi stack output table`) and the deployer's
AWS credentials (``dynamodb:Scan`` and ``dynamodb:UpdateItem`` on the table). It is safe to
rerun. It prints how many recordings it indexed, as JSON.
"""

from __future__ import annotations

import json
import os
import sys

import boto3

import local  # noqa: F401  (puts api/ on the import path)
from chalicelib import environment as env
from chalicelib.recording_table import RecordingTable


def main() -> int:
    """Index the table named by RRWEB_TABLE; 2 when it is not named."""
    table = os.environ.get(env.TABLE)
    if not table:
        print(f"set {env.TABLE} to the stack's recordings table (pulumi stack output table)", file=sys.stderr)
        return 2
    indexed = RecordingTable(table=boto3.resource("dynamodb").Table(table)).index_users()
    print(json.dumps({"table": table, "indexed": indexed}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
