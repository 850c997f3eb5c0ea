"""The site's objects are revalidated on every use, so a deploy takes effect at once.

Under Pulumi's mocks, for every stack: each object of the site's bucket (pages, built
scripts, ``config.json``) carries ``Cache-Control: no-cache``, and no behaviour of the
distribution that serves them keeps an object at the edge longer than a second.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.inventories import STACKS, Inventory

OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"
DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
# AWS's managed cache policies (infra/site.py): CachingOptimized keeps an object at least
# one second whatever its Cache-Control says, CachingDisabled not at all.
MIN_TTL_SECONDS = {"658327ea-f89d-4fab-a63d-7e88639e58f6": 1, "4135ea2d-6df8-44a3-9df3-4b5a84be39ad": 0}


def site_objects(inventory: Inventory) -> dict[str, dict[str, Any]]:
    """The site bucket's objects by key (the recordings bucket holds none the program writes)."""
    objects = [o["inputs"] for o in inventory.of_type(OBJECT)]
    assert all(o["bucket"] != inventory.exports["bucket"] for o in objects)
    return {o["key"]: o for o in objects}


@pytest.mark.parametrize("stack", STACKS)
def test_every_site_object_is_revalidated_so_a_deploy_takes_effect_at_once(
    inventories: dict[str, Inventory], stack: str
) -> None:
    inventory = inventories[stack]
    objects = site_objects(inventory)
    # The pages, the built scripts (under fixed names: other sites load recorder.js), config.json.
    assert {"index.html", "assets/app.js", "assets/recorder.js", "assets/bookmarklet.js", "config.json"} <= set(objects)
    stale = sorted(key for key, o in objects.items() if o.get("cacheControl") != "no-cache")
    assert stale == [], f"{stack}: browsers may keep these past a deploy: {stale}"
    # The edges keep an object no longer than a second (the policy's minimum TTL wins over no-cache).
    distribution = inventory.one(DISTRIBUTION)["inputs"]
    site_behaviors = [distribution["defaultCacheBehavior"]] + [
        b for b in distribution["orderedCacheBehaviors"] if not b["pathPattern"].startswith("/api/")
    ]
    for behavior in site_behaviors:
        assert MIN_TTL_SECONDS.get(behavior["cachePolicyId"], 86400) <= 1, (stack, behavior)
