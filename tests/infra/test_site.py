"""The site as deployed: built before it goes out, and optional.

Under Pulumi's mocks: the Site component refuses a content folder whose pages load
scripts that were never built (``site/public/assets`` is made by ``make site`` and is not
in git), and the deploy steps build it; a stack with ``site: false`` (an AWS account
CloudFront does not serve yet) deploys everything but the site.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from infra.settings import StackSettings
from tests.infra.test_components import RecordingMocks
from tests.support.inventories import ROOT, Inventory, run_inventory

OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"
FUNCTION = "aws:lambda/function:Function"
CORS = "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration"


def built_site(folder: Path) -> Path:
    """A content folder as ``make site`` leaves it: a page, the script it loads, the embedded scripts."""
    (folder / "assets").mkdir(parents=True)
    (folder / "index.html").write_text('<!doctype html><script src="assets/app.js"></script>\n')
    for name in ("app.js", "recorder.js", "bookmarklet.js"):
        (folder / "assets" / name).write_text("void 0;\n")
    return folder


@pytest.fixture
def mocks() -> RecordingMocks:
    recording = RecordingMocks()
    pulumi.runtime.set_mocks(recording, project="rrweb-s3-storage", stack="unit", preview=False)
    return recording


def site_args(content_dir: Path) -> Any:
    from infra.site import SiteArgs

    return SiteArgs(
        settings=StackSettings(stack="unit"),
        content_dir=content_dir,
        ingest_url="https://unit.lambda-url.us-east-1.on.aws",
        api_domain="unit.execute-api.us-east-1.amazonaws.com",
        region="us-east-1",
        user_pool_id="us-east-1_unit",
        client_id="unit-client",
        origin_secret="unit-secret",
    )


def test_a_site_whose_scripts_were_never_built_is_refused_with_the_command_to_build_them(
    mocks: RecordingMocks, tmp_path: Path
) -> None:
    from infra.site import Site

    # The repository's own pages, as a checkout has them before `make site`.
    content = tmp_path / "public"
    shutil.copytree(ROOT / "site" / "public", content, ignore=shutil.ignore_patterns("assets"))
    with pytest.raises(pulumi.RunError, match=r"make site") as refused:
        Site("unit-site", site_args(content))
    message = str(refused.value)
    # Every script a page loads, and those other sites load by URL, is named.
    for script in ("assets/app.js", "assets/keys.js", "assets/replay.js", "assets/recorder.js"):
        assert script in message, message
    assert "site false" in message, "the refusal does not say how to deploy without the site"
    assert mocks.created == [], "resources were declared before the refusal"


def test_a_page_loading_a_script_the_build_did_not_make_is_refused(mocks: RecordingMocks, tmp_path: Path) -> None:
    from infra.site import Site

    content = built_site(tmp_path / "public")
    (content / "keys.html").write_text('<link rel="stylesheet" href="assets/keys.css"><script src="assets/keys.js">')
    with pytest.raises(pulumi.RunError, match=r"assets/keys\.css, assets/keys\.js\. Run `make site`"):
        Site("unit-site", site_args(content))


def test_the_deploy_steps_build_the_site_before_pulumi_up() -> None:
    page = (ROOT / "docs" / "deploy.md").read_text()
    commands = [
        line.split("#", 1)[0].strip()
        for block in re.findall(r"```sh\n(.*?)```", page, flags=re.DOTALL)
        for line in block.splitlines()
    ]
    first_up = next(i for i, command in enumerate(commands) if command.startswith("pulumi up"))
    assert "make site" in commands[:first_up], f"docs/deploy.md runs `pulumi up` before `make site`: {commands}"


def test_every_workflow_job_that_deploys_builds_the_site_first() -> None:
    deploys = 0
    for workflow in sorted((ROOT / ".github" / "workflows").glob("*.yml")):
        for name, job in yaml.safe_load(workflow.read_text())["jobs"].items():
            built = False
            for step in job.get("steps", []):
                run = step.get("run", "")
                built = built or "make site" in run
                pulumi_up = step.get("with", {}).get("command") in ("up", "preview") or "pulumi up" in run
                if pulumi_up:
                    deploys += 1
                    assert built, f"{workflow.name}: job {name} deploys before `make site`"
    assert deploys >= 3  # dev, prod, a pull request's preview


@pytest.fixture(scope="module")
def without_site(tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    """A pull request's stack deployed with ``site: false``."""
    target = tmp_path_factory.mktemp("without-site") / "pr-123.json"
    return run_inventory("pr-123", target, "rrweb-s3-storage:site=false")


def test_a_stack_without_the_site_has_no_cloudfront_resource_and_everything_else(without_site: Inventory) -> None:
    types = {r["type"] for r in without_site.resources}
    assert not {t for t in types if t.startswith("aws:cloudfront/")}, sorted(types)
    assert "rrweb:index:Site" not in types
    assert without_site.of_type(OBJECT) == []
    (bucket,) = without_site.of_type("aws:s3/bucket:Bucket")
    assert bucket["inputs"]["bucket"] == without_site.exports["bucket"], "a bucket other than the recordings'"
    # The API, its data and functions are all there, and reached at the API's own URL.
    assert len(without_site.of_type(FUNCTION)) == 7
    assert len(without_site.of_type("aws:apigateway/stage:Stage")) == 1
    assert len(without_site.of_type("aws:dynamodb/table:Table")) == 2
    assert without_site.exports["api_url"].startswith("https://")
    assert "site_url" not in without_site.exports


def test_without_the_site_the_api_trusts_no_forwarded_viewer_and_the_bucket_no_reader(without_site: Inventory) -> None:
    (handler,) = [f for f in without_site.of_type(FUNCTION) if f["name"].endswith("-api-handler")]
    variables = handler["inputs"]["environment"]["variables"]
    # No distribution: nothing but the API holds the origin secret, so no request can
    # prove CloudFront sent it, and every request is counted by its own source address.
    secret = variables["RRWEB_ORIGIN_SECRET"]
    holders = [
        r["type"]
        for r in without_site.resources
        if r is not handler and r["type"] != "random:index/randomPassword:RandomPassword"
        if secret in json.dumps(r["inputs"])
    ]
    assert holders == []
    # The site's origin is not an allowed one: only allowedOrigins (none on a PR stack).
    assert variables["RRWEB_ALLOWED_ORIGINS"] == ""
    # S3 refuses a CORS rule without origins: uploads from any page, and no read rule.
    rules = without_site.one(CORS)["inputs"]["corsRules"]
    assert [rule["allowedMethods"] for rule in rules] == [["POST", "PUT"]]
