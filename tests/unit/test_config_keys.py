"""Stack config keys come from one definition: ``StackSettings``' fields.

``CONFIG_KEYS`` is derived from the fields, ``from_config`` reads each of them, and the
cost model reads a stack's ``Pulumi.<stack>.yaml`` through ``from_config`` rather than a
copy of some keys. (docs/deploy.md's table is checked against ``CONFIG_KEYS`` in
tests/infra/test_components.py.)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench import cost
from infra.settings import CONFIG_KEYS, PROJECT, StackSettings, config_key

# A value other than the default for every key, each one AWS would take.
CONFIGURED: dict[str, Any] = {
    "retentionDays": "400",
    "glacierAfterDays": "45",
    "archiveBufferSeconds": "301",
    "archiveBufferMb": "64",
    "archiveRetentionDays": "8",
    "consumerBatchingWindowSeconds": "2",
    "consumerParallelization": "2",
    "consumerUnwatchedWindowSeconds": "60",
    "consumerUnwatchedParallelization": "10",
    "consumerBatchSize": "501",
    "consumerMaxRetries": "6",
    "consumerMaxRecordAgeSeconds": "3600",
    "compactIdleMinutes": "31",
    "compactEveryMinutes": "6",
    "shareMaxDays": "14",
    "kinesisMode": "on-demand",
    "kinesisShards": "2",
    "kinesisRetentionHours": "48",
    "ingestConcurrency": "7",
    "throttleRateLimit": "51.5",
    "throttleBurstLimit": "101",
    "lambdaMemoryMb": "1024",
    "ingestMemoryMb": "768",
    "lambdaRuntime": "python3.12",
    "lambdaArchitecture": "x86_64",
    "emailFrom": "Recordings <no-reply@example.com>",
    "sesIdentity": "example.com",
    "logRetentionDays": "30",
    "protectData": "true",
    "versioning": "true",
    "pointInTimeRecovery": "true",
    "manageApiGatewayAccount": "true",
    "apiAccessLogs": "true",
    "chaliceStage": "prod",
    "allowedOrigins": ["https://a.example"],
    "keyRequestsPerMinute": "1000",
    "keyBytesPerMinute": "2000",
    "keyRequestsPerMinuteMax": "3000",
    "userRequestsPerMinute": "11",
    "userBytesPerMinute": "12",
    "recordingRequestsPerMinute": "13",
    "clientRequestsPerMinute": "14",
    "clientBytesPerMinute": "15",
    "alarmEmail": "ops@example.com",
    "selfSignUp": "true",
    "site": "false",
}


class Config:
    """``pulumi.Config``'s getters over a dict of strings (and one object)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    def get_int(self, key: str) -> int | None:
        return None if key not in self.values else int(self.values[key])

    def get_float(self, key: str) -> float | None:
        return None if key not in self.values else float(self.values[key])

    def get_bool(self, key: str) -> bool | None:
        return None if key not in self.values else self.values[key] == "true"

    def get_object(self, key: str) -> Any:
        return self.values.get(key)


def test_config_keys_are_the_fields() -> None:
    names = [field.name for field in dataclasses.fields(StackSettings) if field.name != "stack"]
    assert tuple(config_key(name) for name in names) == CONFIG_KEYS
    assert config_key("consumer_max_record_age_seconds") == "consumerMaxRecordAgeSeconds"
    assert set(CONFIGURED) == set(CONFIG_KEYS)


def test_from_config_reads_every_key() -> None:
    defaults = StackSettings(stack="unit")
    configured = StackSettings.from_config(Config(CONFIGURED), "unit")  # type: ignore[arg-type]
    unread = [
        field.name
        for field in dataclasses.fields(StackSettings)
        if field.name != "stack" and getattr(configured, field.name) == getattr(defaults, field.name)
    ]
    assert unread == []


def test_the_cost_model_reads_a_stack_file_as_the_program_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stack_file = {"config": {"aws:region": "us-east-1", **{f"{PROJECT}:{k}": v for k, v in CONFIGURED.items()}}}
    (tmp_path / "Pulumi.unit.yaml").write_text(yaml.safe_dump(stack_file))
    monkeypatch.setattr(cost, "ROOT", tmp_path)
    assert cost.stack_settings("unit") == StackSettings.from_config(Config(CONFIGURED), "unit")  # type: ignore[arg-type]
