"""Stack inventories as session fixtures, run once per test run (tests/support/inventories.py)."""

from __future__ import annotations

import pytest

from tests.support.inventories import Inventory, shared_inventories


@pytest.fixture(scope="session")
def inventories(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Inventory]:
    return shared_inventories(tmp_path_factory, "inventories")


@pytest.fixture(scope="session")
def self_sign_up_inventories(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Inventory]:
    """Every stack as its owner would deploy it with ``selfSignUp: true`` added to its config."""
    return shared_inventories(tmp_path_factory, "self-sign-up", "rrweb-s3-storage:selfSignUp=true")
