"""Run the real Pulumi program (``__main__.py``) under Pulumi's mocks for one stack.

``python -m tests.infra.inventory <stack> <file> [key=value ...]`` writes the stack's
resource inventory as JSON: every resource's type, logical name, resolved inputs,
resource options (protect, retain on delete) and the program's exports. ``key=value``
pairs are set over the stack's config file (``rrweb-s3-storage:selfSignUp=true``). Each stack runs in its own
process, because Pulumi's runtime state is global to the interpreter.
"""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import Stack, run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
REGION = "us-east-1"


def physical_name(typ: str, name: str, inputs: dict[str, Any]) -> str:
    """The name AWS would see: the explicit one, else Pulumi's auto-name (logical name + suffix)."""
    for key in ("name", "bucket", "functionName"):
        value = inputs.get(key)
        if isinstance(value, str) and typ not in ("aws:s3/bucketObjectv2:BucketObjectv2",):
            if key == "bucket" and typ != "aws:s3/bucket:Bucket":
                continue
            return value
    return f"{name}-a1b2c3d"


class Mocks(pulumi.runtime.Mocks):
    """Inputs echoed back plus the attributes AWS computes (ids, ARNs, URLs)."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        name = physical_name(args.typ, args.name, args.inputs)
        outputs: dict[str, Any] = {"name": name, **args.inputs}
        typ = args.typ
        if typ == "aws:s3/bucket:Bucket":
            outputs |= {
                "bucket": name,
                "arn": f"arn:aws:s3:::{name}",
                "bucketRegionalDomainName": f"{name}.s3.{REGION}.amazonaws.com",
            }
        elif typ == "aws:dynamodb/table:Table":
            outputs |= {"arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"}
        elif typ == "aws:kinesis/stream:Stream":
            outputs |= {"arn": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{name}"}
        elif typ == "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream":
            outputs |= {"arn": f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{name}"}
        elif typ == "aws:cloudwatch/logGroup:LogGroup":
            outputs |= {"arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*"}
        elif typ == "aws:iam/role:Role":
            outputs |= {"arn": f"arn:aws:iam::{ACCOUNT}:role/{name}", "name": name}
        elif typ == "aws:lambda/function:Function":
            arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
            outputs |= {
                "arn": arn,
                "invokeArn": f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{arn}/invocations",
            }
        elif typ == "aws:lambda/functionUrl:FunctionUrl":
            # As Lambda answers it: the URL's own host, with a trailing slash.
            outputs |= {"functionUrl": f"https://{name}.lambda-url.{REGION}.on.aws/"}
        elif typ == "aws:apigateway/restApi:RestApi":
            outputs |= {"executionArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{name}", "rootResourceId": "root"}
        elif typ == "aws:apigateway/stage:Stage":
            outputs |= {
                "invokeUrl": f"https://{args.inputs['restApi']}.execute-api.{REGION}.amazonaws.com/{args.inputs['stageName']}"
            }
        elif typ == "aws:cognito/userPool:UserPool":
            outputs |= {
                "arn": f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{REGION}_{name}",
                "endpoint": f"cognito-idp.{REGION}.amazonaws.com/{name}",
            }
        elif typ == "aws:sqs/queue:Queue":
            outputs |= {
                "arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}",
                "url": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}",
            }
        elif typ == "aws:sns/topic:Topic":
            outputs |= {"arn": f"arn:aws:sns:{REGION}:{ACCOUNT}:{name}"}
        elif typ == "aws:kms/key:Key":
            outputs |= {"arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{name}", "keyId": name}
        elif typ == "aws:cloudwatch/eventRule:EventRule":
            outputs |= {"arn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}"}
        elif typ == "aws:cloudwatch/metricAlarm:MetricAlarm":
            outputs |= {"arn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"}
        elif typ == "random:index/randomPassword:RandomPassword":
            # A stand-in for the generated value, distinct per resource and never empty.
            outputs |= {"result": f"{name}-{int(args.inputs['length'])}-chars"}
        elif typ == "aws:cloudfront/distribution:Distribution":
            outputs |= {
                "arn": f"arn:aws:cloudfront::{ACCOUNT}:distribution/{name}",
                "domainName": f"{name}.cloudfront.net",
            }
        return f"{name}-id" if typ != "aws:s3/bucket:Bucket" else name, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/ci", "userId": "ci", "id": ACCOUNT}, []
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": REGION, "region": REGION, "id": REGION, "description": "", "endpoint": ""}, []
        raise LookupError(f"the program calls {args.token}, which the test mocks do not model")


class RecordingMonitor(MockMonitor):
    """The mock engine, also keeping each resource's options."""

    def __init__(self, mocks: Mocks) -> None:
        super().__init__(mocks)
        self.options: dict[str, dict[str, bool]] = {}

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (the engine's RPC name)
        response = super().RegisterResource(request)
        self.options[response.urn] = {"protect": bool(request.protect), "retainOnDelete": bool(request.retainOnDelete)}
        return response


def reveal(value: Any) -> Any:
    """A resource's inputs with Pulumi's secret wrappers taken off (the values the program set)."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return reveal(value["value"])
        return {key: reveal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [reveal(item) for item in value]
    return value


def secret_inputs(inputs: dict[str, Any]) -> list[str]:
    """The inputs Pulumi keeps encrypted in the stack's state."""
    return sorted(
        key
        for key, value in inputs.items()
        if isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig
    )


def stack_config(stack: str) -> dict[str, str]:
    """The stack's Pulumi.<stack>.yaml (PR stacks have none: all defaults)."""
    path = ROOT / f"Pulumi.{stack}.yaml"
    if not path.exists():
        return {"aws:region": REGION}
    return {key: str(value) for key, value in yaml.safe_load(path.read_text())["config"].items()}


def inventory(stack: str, overrides: dict[str, str] | None = None) -> dict[str, Any]:
    """Run the program for ``stack`` (its config file, then ``overrides``) and return its resources and exports."""
    mocks = Mocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="rrweb-s3-storage", stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config({**stack_config(stack), **(overrides or {})})
    exports: dict[str, Any] = {}

    def program() -> None:
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")

    _sync_await(run_pulumi_func(program))
    stack_resource = pulumi.runtime.get_root_resource()
    if stack_resource is not None:
        assert isinstance(stack_resource, Stack)  # the program's root resource is its stack
        for key, value in stack_resource.outputs.items():
            exports[key] = _sync_await(pulumi.Output.from_input(value).future())
    resources = [
        {
            "urn": urn,
            "type": urn.split("::")[2].split("$")[-1],
            "name": urn.split("::")[3],
            "inputs": reveal(registration.state),
            "secrets": secret_inputs(registration.state),
            **monitor.options.get(urn, {}),
        }
        for urn, registration in monitor.resources.items()
    ]
    return {"stack": stack, "resources": resources, "exports": exports}


if __name__ == "__main__":
    pairs = dict(pair.split("=", 1) for pair in sys.argv[3:])
    Path(sys.argv[2]).write_text(json.dumps(inventory(sys.argv[1], pairs), default=str))
