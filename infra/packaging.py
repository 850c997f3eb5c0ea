"""Builds the Lambda bundle and API definition with ``chalice package``.

The package is keyed by a hash of everything that goes into it (the app's sources,
its requirements, Chalice's config, the runtime and the processor), so an unchanged app
reuses the same bytes and Pulumi sees nothing to redeploy.

Chalice picks the bundle's compiled wheels for the Python it runs on, so a bundle for
``python3.13`` is packaged by Python 3.13: this one when it is that version, otherwise a
Python 3.13 found on the machine, in a virtualenv of its own under ``.build/``. Whatever
Chalice did, the bundle is then checked against the runtime and processor, and refused
when a wheel does not fit them (``verify``).
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
API_DIR = ROOT / "api"
BUILD_DIR = ROOT / ".build" / "chalice"

# Python runtimes Lambda offers that the bundle's dependencies have wheels for. The
# default is the newest one the test suite runs the bundle in (tests/integration/
# test_lambda_bundle.py needs its interpreter): python3.14 packages and verifies, but
# no Python 3.14 runs the bundle's test here yet.
LAMBDA_RUNTIMES = ("python3.11", "python3.12", "python3.13", "python3.14")
DEFAULT_RUNTIME = "python3.13"
LAMBDA_ARCHITECTURES = ("arm64", "x86_64")
DEFAULT_ARCHITECTURE = "arm64"

# The newest glibc of each runtime's OS (Amazon Linux 2 for 3.11, 2023 after): a
# manylinux wheel needing more does not load there.
_GLIBC = {"python3.11": (2, 26), "python3.12": (2, 34), "python3.13": (2, 34), "python3.14": (2, 34)}
# ELF e_machine of each processor, and its name in wheel tags and extension suffixes.
_ELF_MACHINE = {"x86_64": 62, "arm64": 183}
_MACHINE = {"x86_64": "x86_64", "arm64": "aarch64"}
# Where pip's tags and Chalice's packages file name a legacy manylinux, its glibc.
_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


class PackagingError(RuntimeError):
    """The bundle cannot be built for the stack's runtime, or what was built does not fit it."""


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
    """Hash of the files ``chalice package`` reads (plus the stage, runtime and processor in ``stage``)."""
    digest = hashlib.sha256(stage.encode())
    for path in _sources(api_dir):
        digest.update(str(path.relative_to(api_dir)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:20]


def _sources(api_dir: Path) -> list[Path]:
    return sorted(
        path
        for path in api_dir.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and "deployments" not in path.parts
    )


def package(
    stage: str,
    api_dir: Path = API_DIR,
    build_dir: Path = BUILD_DIR,
    *,
    runtime: str = DEFAULT_RUNTIME,
    architecture: str = DEFAULT_ARCHITECTURE,
) -> ChalicePackage:
    """Run ``chalice package`` for ``runtime`` on ``architecture`` unless a package of the same sources exists."""
    if runtime not in LAMBDA_RUNTIMES or architecture not in LAMBDA_ARCHITECTURES:
        raise PackagingError(f"no bundle for {runtime} on {architecture}")
    key = source_hash(api_dir, f"{stage} {runtime} {architecture}")
    out = build_dir / key
    template = out / "sam.json"
    build_dir.mkdir(parents=True, exist_ok=True)
    # One process packages at a time (parallel test workers, two programs): the second
    # finds the first one's package.
    with _locked(build_dir / f"{key}.lock"):
        if not template.exists():
            chalice = chalice_for(runtime, build_dir, api_dir / "requirements.txt")
            _build(
                chalice,
                stage=stage,
                runtime=runtime,
                architecture=architecture,
                api_dir=api_dir,
                build_dir=build_dir,
                key=key,
                out=out,
            )
    return ChalicePackage(zip_path=out / "deployment.zip", template=json.loads(template.read_text()), source_hash=key)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _build(
    chalice: Path,
    *,
    stage: str,
    runtime: str,
    architecture: str,
    api_dir: Path,
    build_dir: Path,
    key: str,
    out: Path,
) -> None:
    # Folders of this process's own: a copy of the app with the processor in its Chalice
    # config (Chalice caches a deployment zip inside the app's folder, so no two runs
    # share one), and the package being written.
    source = build_dir / f"{key}.{os.getpid()}.app"
    staging = build_dir / f"{key}.{os.getpid()}.partial"
    for folder in (source, staging):
        shutil.rmtree(folder, ignore_errors=True)
    try:
        _copy_app(api_dir, source, architecture)
        subprocess.run(  # noqa: S603 (fixed argv)
            [str(chalice), "package", "--stage", stage, str(staging)],
            cwd=source,
            check=True,
            # Pulumi reads the program's stdout; Chalice's progress goes to stderr.
            stdout=sys.stderr,
            env={**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")},
        )
        built = ChalicePackage(
            zip_path=staging / "deployment.zip",
            template=json.loads((staging / "sam.json").read_text()),
            source_hash=key,
        )
        problems = verify(built, runtime, architecture, api_dir / "requirements.txt")
        if problems:
            raise PackagingError(
                f"the bundle chalice built does not fit {runtime} on {architecture}:\n  " + "\n  ".join(problems)
            )
        try:
            staging.rename(out)
        except OSError:
            # Another process finished the same package first: the same sources, so
            # the same package; keep its copy.
            if not (out / "sam.json").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(source, ignore_errors=True)


def _copy_app(api_dir: Path, source: Path, architecture: str) -> None:
    for path in _sources(api_dir):
        target = source / path.relative_to(api_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    config_path = source / ".chalice" / "config.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {"version": "2.0", "stages": {}}
    config["lambda_architecture"] = architecture
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(json.dumps(config, indent=2))


def chalice_for(runtime: str, build_dir: Path = BUILD_DIR, requirements: Path = API_DIR / "requirements.txt") -> Path:
    """A ``chalice`` run by the runtime's Python: this one's, or one installed for it under ``build_dir``.

    Chalice imports the app to find its routes, so that environment has the app's
    requirements too.
    """
    version = runtime.removeprefix("python")
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return Path(sys.executable).parent / "chalice"
    python = find_python(version)
    pinned = importlib.metadata.version("chalice")
    venv = build_dir / f"toolchain-{runtime}"
    # A new interpreter (an upgraded 3.13) or requirements make a new environment.
    interpreter = subprocess.run(  # noqa: S603 (fixed argv)
        [python, "-c", "import sys; print(sys.version)"], capture_output=True, text=True, check=True
    ).stdout
    wanted = hashlib.sha256(requirements.read_bytes() + pinned.encode() + interpreter.encode()).hexdigest()[:16]
    stamp = venv / f".installed-{wanted}"
    with _locked(build_dir / f"toolchain-{runtime}.lock"):
        if not stamp.exists():
            shutil.rmtree(venv, ignore_errors=True)
            pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
            for argv in (
                [python, "-m", "venv", str(venv)],
                # The same Chalice as this environment's; chalice package drives pip and
                # supports it up to 26.2.
                [*pip, "pip<26.3", f"chalice=={pinned}"],
                [*pip, "-r", str(requirements)],
            ):
                # Pulumi reads the program's stdout: progress goes to stderr.
                subprocess.run(argv, check=True, stdout=sys.stderr)  # noqa: S603 (fixed argv)
            stamp.touch()
    return venv / "bin" / "chalice"


def find_python(version: str) -> str:
    """A Python ``version`` (``3.13``) on this machine: ``python3.13`` on the PATH, or pyenv's."""
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    # The newest patch release first (3.13.10 before 3.13.9).
    pyenv = sorted(
        glob.glob(f"{pyenv_root}/versions/{version}.*/bin/python{version}"), key=_patch_release, reverse=True
    )
    candidates = [shutil.which(f"python{version}"), *pyenv]
    for candidate in filter(None, candidates):
        # pyenv's shim is on the PATH for every version, and fails for one not selected;
        # a free-threaded build (3.13t) names itself 3.13 but takes other wheels.
        ran = subprocess.run(  # noqa: S603 (fixed argv)
            [
                candidate,
                "-c",
                "import sys, sysconfig; print('%d.%d' % sys.version_info[:2], "
                "bool(sysconfig.get_config_var('Py_GIL_DISABLED')))",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if ran.returncode == 0 and ran.stdout.split() == [version, "False"]:
            return candidate
    raise PackagingError(
        f"lambdaRuntime python{version} is packaged by Python {version} (Chalice picks the bundle's wheels for "
        f"the Python it runs on), and none was found: install it (python{version} on the PATH), or set "
        f"lambdaRuntime to python{sys.version_info.major}.{sys.version_info.minor}, this Python"
    )


def _patch_release(path: str) -> tuple[int, ...]:
    match = re.search(r"/versions/(\d+)\.(\d+)\.(\d+)/", path)
    return tuple(int(part) for part in match.groups()) if match else (0,)


def verify(package: ChalicePackage, runtime: str, architecture: str, requirements: Path) -> list[str]:
    """What in the bundle does not fit ``runtime`` on ``architecture``: nothing when it all does.

    Every function declares the runtime and processor; every requirement is in the bundle
    (Chalice leaves out, with a warning, a package it found no fitting wheel for); every
    wheel's tags fit; every compiled module is for the processor and the Python.
    """
    problems = [
        f"function {name} runs {spec.get('Runtime')} on {spec.get('Architectures')}"
        for name, spec in package.functions().items()
        if spec.get("Runtime") != runtime or spec.get("Architectures", ["x86_64"]) != [architecture]
    ]
    with zipfile.ZipFile(package.zip_path) as bundle:
        names = bundle.namelist()
        installed = {_dist_info_key(name) for name in names if name.endswith(".dist-info/METADATA")}
        problems += [
            f"{requirement} is not in the bundle (no wheel for {runtime} on {architecture}?)"
            for requirement in _pinned(requirements)
            if _normalise(requirement) not in installed
        ]
        for name in names:
            if name.endswith(".dist-info/WHEEL"):
                tags = [
                    line.split(":", 1)[1].strip()
                    for line in bundle.read(name).decode().splitlines()
                    if line.startswith("Tag:")
                ]
                if not any(tag_fits(tag, runtime, architecture) for tag in tags):
                    problems.append(f"{name.split('/')[0]} is built for {', '.join(tags)}")
            elif name.endswith(".so") or ".so." in name:
                problem = _module_problem(name, bundle.read(name)[:20], runtime, architecture)
                if problem:
                    problems.append(problem)
    return problems


def tag_fits(tag: str, runtime: str, architecture: str) -> bool:
    """Whether a wheel tag (``cp313-cp313-manylinux_2_17_aarch64``) loads on the runtime and processor."""
    parts = tag.split("-")
    if len(parts) != 3:
        return False
    interpreter, abi, platform = parts
    minor = int(runtime.removeprefix("python3."))
    python_fits = interpreter in ("py3", "py2.py3") or (
        (match := re.fullmatch(r"cp3(\d+)", interpreter)) is not None
        and (int(match[1]) == minor or (abi == "abi3" and int(match[1]) <= minor))
    )
    abi_fits = abi in ("none", "abi3", f"cp3{minor}")
    return python_fits and abi_fits and _platform_fits(platform, runtime, architecture)


def _platform_fits(platform: str, runtime: str, architecture: str) -> bool:
    if platform == "any":
        return True
    machine = _MACHINE[architecture]
    if not platform.endswith(f"_{machine}"):
        return False
    base = platform.removesuffix(f"_{machine}")
    if base in _LEGACY_MANYLINUX:
        glibc = _LEGACY_MANYLINUX[base]
    elif match := re.fullmatch(r"manylinux_(\d+)_(\d+)", base):
        glibc = (int(match[1]), int(match[2]))
    else:
        return False
    return glibc <= _GLIBC[runtime]


def _module_problem(name: str, head: bytes, runtime: str, architecture: str) -> str | None:
    if head[:4] != b"\x7fELF":
        return None
    machine = int.from_bytes(head[18:20], "little")
    if machine != _ELF_MACHINE[architecture]:
        return f"{name} is compiled for another processor (ELF machine {machine})"
    suffix = re.search(r"\.cpython-3(\d+)[^.]*\.so$", name)
    if suffix and f"python3.{suffix[1]}" != runtime:
        return f"{name} is compiled for Python 3.{suffix[1]}"
    return None


def _pinned(requirements: Path) -> list[str]:
    """``name==version`` of each requirement of a pip-compile lock."""
    return re.findall(r"^([A-Za-z0-9._-]+==[^\s\\]+)", requirements.read_text(), flags=re.MULTILINE)


def _normalise(requirement: str) -> str:
    name, version = requirement.split("==")
    return f"{re.sub(r'[-_.]+', '_', name).lower()}=={version}"


def _dist_info_key(name: str) -> str:
    folder = name.split("/")[0].removesuffix(".dist-info")
    dist, _, version = folder.rpartition("-")
    return f"{re.sub(r'[-_.]+', '_', dist).lower()}=={version}"
