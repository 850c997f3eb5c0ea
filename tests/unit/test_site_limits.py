"""The recorder's copy of the API's limits is generated, never written by hand.

``site/src/generated/limits.json`` is what ``python -m ops.site_limits`` writes from
``chalicelib.settings`` and ``chalicelib.validation``; the recorder imports it. A limit
changed in the API without regenerating fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from chalicelib import settings, validation
from chalicelib.errors import BadRequestError
from ops import site_limits


def test_the_committed_file_is_what_the_generator_writes() -> None:
    assert site_limits.OUTPUT.read_bytes() == site_limits.render()
    assert site_limits.main(["--check"]) == 0


def test_check_fails_on_a_stale_file(tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    stale = tmp_path / "limits.json"
    stale.write_text(site_limits.OUTPUT.read_text().replace(str(settings.MAX_EVENTS_PER_BATCH), "20001"))
    monkeypatch.setattr(site_limits, "OUTPUT", stale)
    assert site_limits.main(["--check"]) == 1
    assert "python -m ops.site_limits" in capsys.readouterr().err


def test_the_limits_are_the_api_s() -> None:
    limits = json.loads(site_limits.OUTPUT.read_text())
    assert limits["wireBytes"] == settings.MAX_BODY_BYTES
    assert limits["inflatedBytes"] == settings.MAX_BATCH_BYTES
    assert limits["events"] == settings.MAX_EVENTS_PER_BATCH
    assert limits["userIdLength"] == settings.MAX_USER_ID_LENGTH
    assert limits["liveFlushMs"] == settings.LIVE_FLUSH_MS
    assert limits["assetBytes"] == settings.ASSET_MAX_BYTES
    assert limits["assetsPerQuestion"] == settings.ASSETS_PER_REQUEST
    assert limits["assetQuestionBytes"] == settings.ASSET_QUESTION_MAX_BYTES


@pytest.mark.parametrize(
    "candidate",
    ["abcdefgh", "A" * 64, "a_b-c9Z0", "a" * 7, "a" * 65, "abc.defgh", "abcdefg/h", "abcdéfgh", "abcdefgh\n"],
)
def test_the_recorder_s_id_pattern_takes_what_the_api_takes(candidate: str) -> None:
    # JavaScript's ^...$ without the m flag matches like Python's \A...\Z.
    pattern = json.loads(site_limits.OUTPUT.read_text())["recordingIdPattern"]
    assert pattern.startswith("^")
    assert pattern.endswith("$")
    recorder_takes = re.fullmatch(pattern[1:-1], candidate) is not None
    try:
        api_takes = validation.recording_id(candidate) == candidate
    except BadRequestError:
        api_takes = False
    assert recorder_takes == api_takes


def test_the_openapi_document_states_the_same_id_pattern() -> None:
    import yaml

    spec = yaml.safe_load((Path(__file__).resolve().parents[2] / "openapi.yaml").read_text())
    recorder = json.loads(site_limits.OUTPUT.read_text())["recordingIdPattern"]
    assert spec["components"]["schemas"]["RecordingId"]["pattern"] == recorder == f"^{validation.RECORDING_ID_PATTERN}$"
