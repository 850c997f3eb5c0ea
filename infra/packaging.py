"""Builds the Lambda bundle and API definition with ``chalice package``.

The package is keyed by a hash of everything that goes into it (the app's sources,
its requirements and Chalice's config), so an unchanged app reuses the same bytes and
Pulumi sees nothing to redeploy.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
API_DIR = ROOT / "api"
BUILD_DIR = ROOT / ".build" / "chalice"


@dataclass(frozen=True)
class ChalicePackage:
    """The zip every function runs from, and the SAM template Chalice generated."""

    zip_path: Path
    template: dict[str, Any]
    source_hash: str

    def functions(self) -> dict[str, dict[str, Any]]:
        """SAM functions by logical id (``APIHandler``, ``ReapOrphans``, ...)."""
        return {
            name: resource["Properties"]
            for name, resource in self.template["Resources"].items()
            if resource["Type"] == "AWS::Serverless::Function"
        }

    def api_definition(self) -> dict[str, Any]:
        """The REST API's swagger body, with ``Fn::Sub`` integration URIs still in it."""
        definition: dict[str, Any] = self.template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
        return definition


def source_hash(api_dir: Path = API_DIR, stage: str = "dev") -> str:
    """Hash of the files ``chalice package`` reads."""
    digest = hashlib.sha256(stage.encode())
    files = sorted(
        path
        for path in api_dir.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and "deployments" not in path.parts
        and path.suffix in (".py", ".txt", ".json")
    )
    for path in files:
        digest.update(str(path.relative_to(api_dir)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:20]


def package(stage: str, api_dir: Path = API_DIR, build_dir: Path = BUILD_DIR) -> ChalicePackage:
    """Run ``chalice package`` unless a package of the same sources exists."""
    key = source_hash(api_dir, stage)
    out = build_dir / key
    template = out / "sam.json"
    build_dir.mkdir(parents=True, exist_ok=True)
    # One process packages at a time: Chalice reuses a deployment zip it caches under
    # api/.chalice/deployments, and a second run could copy one still being written.
    with (build_dir / f"{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not template.exists():
            _build(stage, api_dir, build_dir, key, out)
    return ChalicePackage(zip_path=out / "deployment.zip", template=json.loads(template.read_text()), source_hash=key)


def _build(stage: str, api_dir: Path, build_dir: Path, key: str, out: Path) -> None:
    template = out / "sam.json"
    if not template.exists():
        # A folder of this process's own: two processes packaging the same sources at once
        # (parallel test workers, two programs) must not write into one folder.
        staging = build_dir / f"{key}.{os.getpid()}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        chalice = Path(sys.executable).parent / "chalice"
        try:
            subprocess.run(  # noqa: S603 (fixed argv)
                [str(chalice), "package", "--stage", stage, str(staging)],
                cwd=api_dir,
                check=True,
                # Pulumi reads the program's stdout; Chalice's progress goes to stderr.
                stdout=sys.stderr,
                env={**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")},
            )
            try:
                staging.rename(out)
            except OSError:
                # Another process finished the same package first: the same sources, so
                # the same package; keep its copy.
                if not template.exists():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
