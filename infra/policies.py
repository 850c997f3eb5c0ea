"""IAM policy documents built as data, scoped to exact ARNs (never hand-typed JSON)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pulumi


def statement(actions: Sequence[str], resources: Sequence[str], **condition: Any) -> dict[str, Any]:
    """One Allow statement; ``condition`` is passed through as the IAM Condition block."""
    entry: dict[str, Any] = {"Effect": "Allow", "Action": sorted(actions), "Resource": list(resources)}
    if condition:
        entry["Condition"] = condition
    return entry


def document(statements: list[dict[str, Any]]) -> str:
    """A policy document as JSON."""
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def assume_role(service: str, *, source_account: pulumi.Input[str] | None = None) -> pulumi.Output[str]:
    """A trust policy letting one AWS service assume the role (optionally only for one account)."""

    def build(account: str | None) -> str:
        trust: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        if account:
            trust["Condition"] = {"StringEquals": {"aws:SourceAccount": account}}
        return json.dumps({"Version": "2012-10-17", "Statement": [trust]})

    return pulumi.Output.from_input(source_account).apply(build)
