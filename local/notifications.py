"""Local bucket notifications: what S3 does on AWS when an object is created under ``recordings/``.

On AWS the bucket's notification invokes the reaper function (``app.reap_orphans``)
asynchronously for every object created under ``recordings/``: chunks the consumer
writes, compacted objects, and the screenshot a browser uploads with its presigned form.
moto cannot invoke a function, but it does send the same notification, with the same
event filter and prefix (``resources.provision``), to an SQS queue. This reads that queue
and invokes the function with each event, as Lambda would: an event whose invocation
fails stays in the queue and comes back after its visibility timeout (Lambda retries an
asynchronous event too).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("rrweb.notifications")

# How often the queue is read while the stack runs: the reaper's latency on AWS is about this.
POLL_SECONDS = 0.2


class ObjectCreatedNotifications:
    """Invokes a handler with each S3 event the bucket sent to the notification queue."""

    def __init__(self, *, sqs: Any, queue_url: str, handler: Callable[[dict[str, Any]], Any]) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._handler = handler
        self._lock = threading.Lock()

    def poll(self) -> int:
        """Hand every event now in the queue to the handler; returns how many were handled."""
        handled = 0
        with self._lock:
            while True:
                messages = self._sqs.receive_message(
                    QueueUrl=self._queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
                ).get("Messages", [])
                failed = False
                for message in messages:
                    event = json.loads(message["Body"])
                    try:
                        # S3 sends a test event (no Records) when the configuration is set.
                        if event.get("Records"):
                            self._handler(event)
                            handled += 1
                    except Exception:
                        logger.exception("the object-created handler failed; the event is retried later")
                        failed = True
                        continue
                    self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
                # After a failure, a later poll: the failed event must not come straight back.
                if not messages or failed:
                    return handled

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set, then hand over what is left."""
        while not stop.wait(POLL_SECONDS):
            try:
                self.poll()
            except Exception:
                logger.exception("reading bucket notifications failed; retrying")
        self.poll()


def reaper_notifications(session: Any, *, queue_url: str) -> ObjectCreatedNotifications:
    """The stack's reaper function (``app.reap_orphans``) behind the bucket's notification queue."""
    from app import reap_orphans

    return ObjectCreatedNotifications(
        sqs=session.client("sqs"), queue_url=queue_url, handler=lambda event: reap_orphans(event, None)
    )
