"""``python -m bench.scale``: N concurrent recordings through the real handlers, every AWS request counted.

The question: at N concurrent recordings (default 1,000), and scaled linearly to
10,000 and 100,000, how close does the stack come to the AWS limits it must respect
(``../shared/DESIGN.md``, "AWS limits the design must respect")?

How, all in process against moto:

- The stack's resources are provisioned as the local stack provisions them, with the
  stack's default shard count; the event source mapping has the stack's defaults
  (batch size 500, batching window 1 s, parallelization 1: ``infra/settings.py``).
- One owner signs up, signs in and creates ONE ingest key, through the API's routes.
- N visitors record. Each creates its recording with its first batch (POST
  /recordings) and then posts a batch every 5 s of simulated time (POST
  /recordings/{id}/events): gzip bodies sent as ``text/plain`` with the key in the query,
  as ``site/src/recorder.js`` sends them, each visitor from its own address. Visitors
  start spread evenly over the first 5 s, so every simulated second carries about N/5
  POSTs. A 408, 429 or 5xx is retried as the recorder retries it: the same batch, after
  Retry-After (or an exponential backoff), with the batches flushed meanwhile queued
  behind it; one request in flight per visitor. After its create, a visitor uploads its
  screenshot straight to S3 under the form's key, as the browser does.
- After every simulated second, the local event source mapping reads every shard and
  invokes the consumer function (``consume_events``) with at most 500 records per
  shard. Every object written under ``recordings/`` invokes the orphan reaper
  (``reap_orphans``), as the bucket's notification does on AWS.
- With ``--compact``, once every recording has been idle for the compaction idle time,
  the scheduled compaction (``compact_recordings``) runs and is counted too.
- Every recording is read back through GET /recordings/{id}/events as its owner: the
  batches acknowledged (2xx) must be exactly the batches readable. Each batch carries
  a custom rrweb event (type 5) naming its seq, which is how a read-back batch is told.

Simulated time. The app reads the wall clock for rate-limit windows, token buckets,
caches and timestamps; with moto a simulated second takes longer than a real one, so
the app's own modules (``app``, ``chalicelib.*``) see a virtual clock that the
simulation moves: a rate limit counts simulated requests per simulated minute, as it
would count real ones on AWS. Nothing else (botocore, moto, threads) is touched.

Counting. Two botocore event handlers, added to botocore's built-in handlers the way
moto adds its own, are on every client any session creates during the run (the API's,
the consumer's, the event source mapping's): ``provide-client-params`` keeps the
call's parameters, ``after-call`` classifies the call with its response. The phase (API
request and its route, event source mapping, consumer, reaper, compaction, read-back)
says who made it. What is derived per call is described where it is computed
(``Meter``). Rates are per second over the simulated ingest duration (from the first
POST to the last, at least ``--seconds``); the busiest simulated second is reported
beside each. Scaling is linear in N for what all recordings share (an owner's
partition, an index partition, a shard, the owner's S3 prefix, the account) and flat
for what belongs to one recording (its item, its S3 prefix): a recording's own
traffic does not grow with the number of other recordings.

Steady state. Recordings are 5-minute sessions (``bench.cost.RECORDING_MINUTES``): N
concurrent recordings start N / 300 a second, while a run starts all N in its first
5 s. What a start drives (the create's writes and first batch, an index entry's first
write, the screenshot and its reaper call) is scaled to N / 300 a second, and the
events POSTs to the other batches (``steady_weights``).

Judging. Per-shard Kinesis rows are judged at the shard count each scale needs (the
smallest keeping bytes and records in, and bytes out, under 50%), printed as the
config to set, with what the stack's default and prod shard counts would give; they
never fail the verdict. S3 is judged per recording prefix (every object of a recording
sits under it, and S3's limit is per partitioned prefix); the owner prefix is printed
as advisory. Account quotas (API Gateway, Lambda concurrency, Kinesis shards) fail the
verdict when crossed at 10,000 and are printed as a quota to raise at 100,000. Lambda
concurrency uses the cost model's handler times on AWS (moto's printed beside).

What it cannot see: one process stands for every Lambda instance, so what each warm
instance does once per interval (reading the ingest key into its cache, leasing a slice
of a rate budget) is counted once, where K concurrent instances would each do it; and
handler times are moto's in process, not AWS's latencies (printed, while the Lambda
concurrency judged uses the cost model's AWS times); and a 30 s run never sees
``activeAt`` refreshed (every 5 minutes per recording: its bound is printed).
"""

from __future__ import annotations

from bench.scale.analysis import Measure, limit_rows, recording_token_matcher, scale_keys, verdict
from bench.scale.capacity import Shadow, apply_update, read_units, value_size, write_units
from bench.scale.clock import VirtualClock, functions_of
from bench.scale.limits import ADVISORY, CONFIGURED, LIMITS, QUOTAS, REMEDIES, Limit
from bench.scale.meter import Meter, Track
from bench.scale.report import report
from bench.scale.running import run
from bench.scale.settings import DEFAULT_RECORDINGS, DEFAULT_SECONDS
from bench.scale.simulation import Config, Simulation
from bench.scale.targets import targets

# The package's face: ``run`` and ``report`` for ``python -m bench``, the rest for the tests
# that check the counting, sizing and judging on their own.
__all__ = [
    "ADVISORY",
    "CONFIGURED",
    "DEFAULT_RECORDINGS",
    "DEFAULT_SECONDS",
    "LIMITS",
    "QUOTAS",
    "REMEDIES",
    "Config",
    "Limit",
    "Measure",
    "Meter",
    "Shadow",
    "Simulation",
    "Track",
    "VirtualClock",
    "apply_update",
    "functions_of",
    "limit_rows",
    "read_units",
    "recording_token_matcher",
    "report",
    "run",
    "scale_keys",
    "targets",
    "value_size",
    "verdict",
    "write_units",
]
