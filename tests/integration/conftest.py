"""The over-HTTP tests' fixtures: one local stack per module (tests/support/local_stack.py starts it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.local_stack import RunningStack, start_stack


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack") / "data"


@pytest.fixture(scope="module")
def stack(data_dir: Path) -> Iterator[RunningStack]:
    running = start_stack(data_dir)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.stop()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session
