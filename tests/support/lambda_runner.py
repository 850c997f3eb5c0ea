"""Run one Lambda handler from an unzipped bundle, as the Lambda runtime would.

Standalone on purpose (stdlib only): the bundle test starts it with the runtime's Python
in isolated mode and without site-packages (``python3.13 -I -S``), so nothing but the
bundle and the standard library can be imported, as on Lambda (where the bundle's
folder, ``/var/task``, comes first on the path).

    python3.13 -I -S lambda_runner.py <bundle dir> <handler> <event.json> <answer.json>

``handler`` is the function's ``Handler`` from Chalice's template (``app.app``,
``app.consume_events``). The answer file gets the handler's return value and where the
SDK and urllib3 were imported from; the handler's logs go to stdout and stderr.
"""

from __future__ import annotations

import importlib
import json
import sys
import uuid


class Context:
    """The attributes of the Lambda context object that Chalice and Powertools read."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "bundle-test"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 28_000


def main() -> None:
    bundle, handler, event_path, answer_path = sys.argv[1:5]
    sys.path.insert(0, bundle)
    module_name, attribute = handler.rsplit(".", 1)
    function = getattr(importlib.import_module(module_name), attribute)
    with open(event_path) as source:
        event = json.load(source)
    result = function(event, Context(attribute))
    import boto3
    import urllib3

    with open(answer_path, "w") as sink:
        json.dump(
            {
                "result": result,
                "python": f"{sys.version_info.major}.{sys.version_info.minor}",
                "boto3": boto3.__file__,
                "urllib3": urllib3.__file__,
                "path": sys.path,
            },
            sink,
        )


if __name__ == "__main__":
    main()
