"""``python -m local``: run the whole product on this machine (``make dev``)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from pathlib import Path

from .journal import CorruptDataError
from .stack import LocalStack, StackOptions


def main() -> None:
    """Start the local stack, print its URLs, run until Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--api-port", type=int, default=8000)
    parser.add_argument("--aws-port", type=int, default=5000)
    parser.add_argument("--site-port", type=int, default=8080)
    parser.add_argument("--data-dir", type=Path, default=Path(".data"))
    parser.add_argument(
        "--compact-idle-seconds",
        type=int,
        default=None,
        help="compact a recording idle this long (default: the stack setting compactIdleMinutes)",
    )
    parser.add_argument(
        "--compact-every-seconds",
        type=float,
        default=None,
        help="run the compactor this often (default: the stack setting compactEveryMinutes)",
    )
    parser.add_argument(
        "--stack",
        default="local",
        help="run with the settings of Pulumi.<stack>.yaml, such as prod's consumer windows (default: the defaults)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    stack = LocalStack(
        StackOptions(
            data_dir=args.data_dir,
            host=args.host,
            api_port=args.api_port,
            aws_port=args.aws_port,
            site_port=args.site_port,
            compact_idle_seconds=args.compact_idle_seconds,
            compact_every_seconds=args.compact_every_seconds,
            stack=args.stack,
        )
    )
    # The handlers only flip a flag: one that took a lock (Event.set) could run while
    # this thread held that lock inside Event.wait, and hang the stop for good.
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _: stopping.append(signum))
    signal.signal(signal.SIGINT, lambda signum, _: stopping.append(signum))
    try:
        stack.start()
    except CorruptDataError as exc:
        # Not a crash: a file of the data folder is damaged. Say which and what to do, once,
        # and save nothing (a checkpoint now would write over the evidence); the embedded
        # AWS, if it started, stops with this process and changes nothing either.
        print(f"the local stack did not start: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
    print(
        f"rrweb-s3-storage local stack is up\n"
        f"  site        {stack.site_url}/  (sign up, record the demo page, replay)\n"
        f"  API         {stack.api_url}\n"
        f"  AWS (moto)  {stack.aws_url}\n"
        f"  data        {args.data_dir.resolve()}\n"
        f"Ctrl-C stops (in-flight events are stored and saved first).",
        flush=True,
    )
    while not stopping:
        time.sleep(0.2)
    # Whether the embedded AWS died under the stack (the log said so when it did).
    aws_exit_code = stack.aws_exit_code
    print("stopping: storing in-flight events and saving state", flush=True)
    stack.stop()
    print("stopped", flush=True)
    if aws_exit_code is not None:
        # A supervisor (or a script) sees the failure; the next start replays the journal.
        sys.exit(f"the embedded AWS (moto) had exited with code {aws_exit_code}; start the stack again")


if __name__ == "__main__":
    main()
