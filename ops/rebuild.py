"""``python -m ops.rebuild``: rewrite recordings' event objects from the raw archive.

When the stream consumer skipped records (a message in the consumer's failure queue)
or a recording's objects were lost, the archive (Firehose's copy of the stream under
``archive/<yyyy>/<MM>/<dd>/<HH>/``) still holds them. This reads the archive hours of
one recording, or every recording of a range of hours, and writes their records back
as chunk objects (``chalicelib.archive``). It is safe to rerun: a rerun rewrites the
same keys, and the reader serves each batch once however many copies exist.
Recordings deleted meanwhile are skipped.

It prints what it read and wrote as one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

import local  # noqa: F401  (puts api/ on the import path)
from chalicelib import environment as env
from chalicelib.archive import Archive, RebuildResult, hour_prefixes
from chalicelib.recording_table import RecordingTable
from local.credentials import read_credentials
from local.resources import Names

REGION = "us-east-1"

EPILOG = """\
which stack (without --local), from the environment, as an operator sets it:
  RRWEB_BUCKET       the stack's recordings bucket (`pulumi stack output bucket`)
  RRWEB_TABLE        the stack's recordings table (`pulumi stack output table`)
  AWS_REGION         the stack's region (or AWS_DEFAULT_REGION, or the profile's)
  AWS credentials    as boto3 finds them: AWS_PROFILE, or AWS_ACCESS_KEY_ID,
                     AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, or an instance role;
                     they need s3:ListBucket, s3:GetObject and s3:PutObject on the
                     bucket, dynamodb:GetItem and dynamodb:UpdateItem on the table
  AWS_ENDPOINT_URL   optional: another endpoint than AWS's

with --local: a running local stack (`make dev`), its credentials from
<data dir>/aws-credentials.json, its names from the stack name, its embedded AWS
at http://<host>:<aws port>.

examples:
  make rebuild ARGS="--recording rec-123 --owner 0b7e...-sub"
  make rebuild ARGS="--since 2026-11-23T10 --until 2026-11-23T12"
  make rebuild ARGS="--local --since 2026-11-23T10"
"""


@dataclass(frozen=True, kw_only=True)
class Target:
    """Where to rebuild: the bucket and table, and how to reach them."""

    bucket: str
    table: str
    region: str | None = None
    # None: boto3's own choice (AWS, or AWS_ENDPOINT_URL)
    endpoint: str | None = None
    # None: boto3's credential chain
    credentials: Mapping[str, str] | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Target:
        """A deployed stack, named by RRWEB_BUCKET and RRWEB_TABLE."""
        missing = [name for name in (env.BUCKET, env.TABLE) if not environ.get(name, "").strip()]
        if missing:
            raise ValueError(f"set {' and '.join(missing)} (see --help), or pass --local")
        return cls(
            bucket=environ[env.BUCKET].strip(),
            table=environ[env.TABLE].strip(),
            region=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None,
        )

    @classmethod
    def local(cls, *, data_dir: Path, stack: str, host: str, aws_port: int) -> Target:
        """A running local stack: its saved credentials, its names, its embedded AWS."""
        credentials = read_credentials(data_dir)
        names = Names.for_stack(stack)
        return cls(
            bucket=names.bucket,
            table=names.table,
            region=REGION,
            endpoint=f"http://{host}:{aws_port}",
            credentials=credentials,
        )

    def describe(self) -> dict[str, Any]:
        """What the output says about the target (never the credentials)."""
        return {"bucket": self.bucket, "table": self.table, "region": self.region, "endpoint": self.endpoint}

    def connect(self) -> tuple[Archive, RecordingTable]:
        """The archive and the recordings table of this target."""
        session = boto3.session.Session(region_name=self.region, **(self.credentials or {}))
        config = Config(
            retries={"mode": "standard", "max_attempts": 5},
            signature_version="s3v4",
            # A loopback endpoint has no bucket subdomains.
            s3={"addressing_style": "path" if self.endpoint else "auto"},
        )
        s3 = session.client("s3", endpoint_url=self.endpoint, config=config)
        table = session.resource("dynamodb", endpoint_url=self.endpoint, config=config).Table(self.table)
        recordings = RecordingTable(table=table)
        return Archive(s3=s3, bucket=self.bucket, table=recordings), recordings


def utc_hour(value: str) -> dt.datetime:
    """An hour in UTC: ``2026-11-23T10``, or any ISO time (naive means UTC)."""
    try:
        return dt.datetime.strptime(value, "%Y-%m-%dT%H").replace(tzinfo=dt.UTC)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an hour like 2026-11-23T10 (UTC)") from None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def parser() -> argparse.ArgumentParser:
    """The command line (``--help`` documents the environment it reads)."""
    out = argparse.ArgumentParser(
        prog="python -m ops.rebuild",
        description="Rewrite recordings' event objects from the raw archive (archive/<yyyy>/<MM>/<dd>/<HH>/).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = out.add_argument_group("what to rebuild: one recording, or every recording of some hours")
    what.add_argument(
        "--recording",
        help="a recording id (with --owner: from the hours it was written in); "
        "write --recording=<id>, since an id may start with -",
    )
    what.add_argument("--owner", help="the recording owner's id (its user's Cognito sub)")
    what.add_argument("--since", type=utc_hour, help="first archive hour to read, UTC (2026-11-23T10)")
    what.add_argument("--until", type=utc_hour, help="last archive hour to read, UTC (default: --since)")
    where = out.add_argument_group("where (default: the deployed stack the environment names)")
    where.add_argument("--local", action="store_true", help="a running local stack (make dev)")
    where.add_argument("--data-dir", type=Path, default=Path(".data"), help="the local stack's data folder")
    where.add_argument("--stack", default="local", help="the local stack's name")
    where.add_argument("--host", default="127.0.0.1", help="the local stack's host")
    where.add_argument("--aws-port", type=int, default=5000, help="the local stack's embedded AWS port")
    return out


def _result(result: RebuildResult) -> dict[str, Any]:
    return {
        "read": {"archiveObjects": result.archive_objects},
        "wrote": {"records": result.records, "chunks": result.chunks, "recordings": sorted(result.recordings)},
        "skipped": {
            "recordsOfDeletedRecordings": result.skipped_deleted,
            # lines that are not ingest records, or name an owner or id unfit for a key
            "invalidLines": result.skipped_invalid,
        },
    }


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the rebuild the arguments ask for; prints its JSON report, returns the exit status."""
    cli = parser()
    args = cli.parse_args(argv)
    if args.since is None and (args.recording is None or args.owner is None):
        cli.error("give --recording and --owner, or --since (and --until)")
    if args.since is None and args.until is not None:
        cli.error("--until needs --since")
    until = args.until or args.since
    if args.since is not None and until < args.since:
        cli.error("--until is before --since")
    try:
        if args.local:
            target = Target.local(data_dir=args.data_dir, stack=args.stack, host=args.host, aws_port=args.aws_port)
        else:
            target = Target.from_environment(os.environ if environ is None else environ)
    except ValueError as exc:
        cli.error(str(exc))
    archive, recordings = target.connect()

    report: dict[str, Any] = {"target": target.describe()}
    if args.since is None:
        report["recording"] = {"owner": args.owner, "id": args.recording}
        if recordings.get(args.owner, args.recording) is None:
            report["error"] = "no such recording (or it is being deleted): nothing to rebuild"
            print(json.dumps(report, indent=2))
            return 1
        report.update(_result(archive.rebuild_recording(args.owner, args.recording)))
    else:
        report["hours"] = hour_prefixes(args.since, until)
        if args.owner or args.recording:
            report["only"] = {"owner": args.owner, "recording": args.recording}
        report.update(
            _result(archive.rebuild(since=args.since, until=until, owner=args.owner, recording=args.recording))
        )
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
