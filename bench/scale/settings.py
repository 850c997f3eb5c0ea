"""The run's parameters and the constants every part of the simulation shares."""

from __future__ import annotations

import local  # noqa: F401  (puts api/ on the import path)
from bench import cost
from infra.settings import StackSettings
from local.resources import Names

NAMES = Names.for_stack("scale")
REGION = "us-east-1"
# The stack a deployment gets without a Pulumi.<stack>.yaml entry.
STACK_DEFAULTS = StackSettings(stack="scale")

DEFAULT_RECORDINGS = 1000
DEFAULT_SECONDS = 30
# A recording is a visit of this long (the cost model's assumption): in steady state N
# concurrent recordings start N / START_SECONDS new ones a second, however long a run is.
START_SECONDS = cost.RECORDING_MINUTES * 60
# The recorder posts a batch every 5 s in this simulation (between its 10 s flush when
# nobody watches and its 2 s flush while someone does: the cost model's busy case).
BATCH_SECONDS = 5
SCALES = (10_000, 100_000)
# The stack's prod settings (Pulumi.prod.yaml), beside the defaults a new stack gets.
PROD = cost.stack_settings("prod")
# The verdict also says whether every limit stays under half its value at 10,000.
HEADROOM = 0.5
# site/src/recorder.js: retries are capped at 30 s; a Retry-After of 0 still waits 0.2 s.
RECORDER_MAX_BACKOFF_S = 30.0
RECORDER_MIN_RETRY_S = 0.2
# A visitor whose batches are still refused this long after its last flush stops
# (the page was closed): what it never got acknowledged is reported, not lost.
GIVE_UP_AFTER_S = 3600.0
# Compaction runs until a run compacts nothing, at most this many times.
COMPACTION_RUNS = 5
# Readers of every shard on the stack: the two consumers' event source mappings (each
# reads everything and filters what it hands over) and Firehose.
STREAM_READERS = 3
SECONDS_PER_MONTH = 30 * 24 * 3600
MARKER_TAG = "bench.scale"
MIB = 1024 * 1024
