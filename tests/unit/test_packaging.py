"""The Lambda package is built once per source hash, even by processes that race for it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from infra import packaging


class FakeChalice:
    """A ``chalice package`` run that writes a package, and maybe sees another process finish first."""

    def __init__(self, api_dir: Path, build_dir: Path, *, finished_first: bool) -> None:
        self.api_dir = api_dir
        self.build_dir = build_dir
        self.finished_first = finished_first
        self.folders: list[Path] = []

    def __call__(self, argv: list[str], **_: Any) -> subprocess.CompletedProcess[bytes]:
        staging = Path(argv[-1])
        self.folders.append(staging)
        staging.mkdir(parents=True)
        (staging / "sam.json").write_text(json.dumps({"Resources": {}, "by": "this process"}))
        (staging / "deployment.zip").write_bytes(b"zip")
        if self.finished_first:
            other = self.build_dir / packaging.source_hash(self.api_dir, "dev")
            other.mkdir(parents=True)
            (other / "sam.json").write_text(json.dumps({"Resources": {}, "by": "the other process"}))
            (other / "deployment.zip").write_bytes(b"zip")
        return subprocess.CompletedProcess(argv, 0)


@pytest.fixture
def api_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "api"
    folder.mkdir()
    (folder / "app.py").write_text("app = None\n")
    return folder


def test_a_package_another_process_finished_first_is_used_and_nothing_is_left_behind(
    api_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_dir = tmp_path / "build"
    run = FakeChalice(api_dir, build_dir, finished_first=True)
    monkeypatch.setattr(subprocess, "run", run)

    built = packaging.package("dev", api_dir, build_dir)

    assert built.template["by"] == "the other process"
    assert [path.name for path in build_dir.iterdir() if path.is_dir()] == [built.source_hash]


def test_each_process_builds_in_a_folder_of_its_own(
    api_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_dir = tmp_path / "build"
    run = FakeChalice(api_dir, build_dir, finished_first=False)
    monkeypatch.setattr(subprocess, "run", run)

    built = packaging.package("dev", api_dir, build_dir)

    (staging,) = run.folders
    assert str(os.getpid()) in staging.name, "a folder another process could be writing into at the same time"
    assert built.template["by"] == "this process"
    assert packaging.package("dev", api_dir, build_dir).template == built.template
    assert len(run.folders) == 1, "the second call reuses the package"
