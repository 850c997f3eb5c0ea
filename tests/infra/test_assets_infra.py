"""What the stacks give page assets: the API's grants on ``assets/``, and the lease's lifecycle."""

from __future__ import annotations

import pytest

from chalicelib import layout
from chalicelib.assets import asset_days
from tests.infra.test_stacks import LIFECYCLE, grants, stack_arns
from tests.support.inventories import STACKS, Inventory

RETENTION = {"dev": 30, "prod": 365, "pr-123": 30}


@pytest.mark.parametrize("stack", STACKS)
def test_only_the_api_touches_assets_and_it_never_deletes_one(inventories: dict[str, Inventory], stack: str) -> None:
    inventory = inventories[stack]
    assets = f"{stack_arns(inventory)['bucket']}/{layout.ASSETS_ROOT}*"
    on_assets = {
        (function, action)
        for function in ("api-handler", "consume-events", "compact-recordings", "reap-orphans")
        for action, resource in grants(inventory, function)
        if resource == assets
    }
    # HeadObject is GetObject's; PutObject signs the browser's upload and renews a lease by a
    # copy in place. The lifecycle, not the API, deletes an asset.
    assert on_assets == {("api-handler", "s3:GetObject"), ("api-handler", "s3:PutObject")}


@pytest.mark.parametrize("stack", STACKS)
def test_assets_expire_a_retention_and_a_half_after_their_last_write(
    inventories: dict[str, Inventory], stack: str
) -> None:
    rules = {rule["id"]: rule for rule in inventories[stack].one(LIFECYCLE)["inputs"]["rules"]}
    rule = rules["expire-assets"]
    assert rule["filter"] == {"prefix": layout.ASSETS_ROOT}
    assert rule["expiration"]["days"] == asset_days(RETENTION[stack]) == -(-RETENTION[stack] * 3 // 2)
