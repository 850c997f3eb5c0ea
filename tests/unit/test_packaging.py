"""The Lambda bundle: built once per source hash, even by racing processes; refused when it misfits its runtime."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from infra import packaging

# The runtime of the Python running the tests: packaging it needs no other interpreter.
HERE = f"python{sys.version_info.major}.{sys.version_info.minor}"


def template(runtime: str = HERE, architecture: str = "arm64", **extra: Any) -> dict[str, Any]:
    function = {
        "Type": "AWS::Serverless::Function",
        "Properties": {"Runtime": runtime, "Architectures": [architecture]},
    }
    return {"Resources": {"APIHandler": function}, **extra}


class FakeChalice:
    """A ``chalice package`` run that writes a package, and maybe sees another process finish first."""

    def __init__(self, api_dir: Path, build_dir: Path, *, finished_first: bool) -> None:
        self.api_dir = api_dir
        self.build_dir = build_dir
        self.finished_first = finished_first
        self.folders: list[Path] = []
        self.configs: list[dict[str, Any]] = []

    def __call__(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        staging = Path(argv[-1])
        self.folders.append(staging)
        self.configs.append(json.loads((Path(kwargs["cwd"]) / ".chalice" / "config.json").read_text()))
        architecture = self.configs[-1]["lambda_architecture"]
        write_package(staging, template(architecture=architecture, by="this process"))
        if self.finished_first:
            key = packaging.source_hash(self.api_dir, f"dev {HERE} arm64")
            write_package(self.build_dir / key, template(by="the other process"))
        return subprocess.CompletedProcess(argv, 0)


def write_package(folder: Path, sam: dict[str, Any], files: dict[str, bytes] | None = None) -> None:
    folder.mkdir(parents=True)
    (folder / "sam.json").write_text(json.dumps(sam))
    with zipfile.ZipFile(folder / "deployment.zip", "w") as bundle:
        bundle.writestr("app.py", "app = None\n")
        for name, data in (files or {}).items():
            bundle.writestr(name, data)


@pytest.fixture
def api_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "api"
    (folder / ".chalice").mkdir(parents=True)
    (folder / "app.py").write_text("app = None\n")
    (folder / "requirements.txt").write_text("")
    (folder / ".chalice" / "config.json").write_text(json.dumps({"version": "2.0", "stages": {"dev": {}}}))
    return folder


def test_a_package_another_process_finished_first_is_used_and_nothing_is_left_behind(
    api_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_dir = tmp_path / "build"
    run = FakeChalice(api_dir, build_dir, finished_first=True)
    monkeypatch.setattr(subprocess, "run", run)

    built = packaging.package("dev", api_dir, build_dir, runtime=HERE)

    assert built.template["by"] == "the other process"
    assert [path.name for path in build_dir.iterdir() if path.is_dir()] == [built.source_hash]


def test_each_process_builds_in_folders_of_its_own_from_a_copy_that_names_the_processor(
    api_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_dir = tmp_path / "build"
    run = FakeChalice(api_dir, build_dir, finished_first=False)
    monkeypatch.setattr(subprocess, "run", run)

    built = packaging.package("dev", api_dir, build_dir, runtime=HERE)

    (staging,) = run.folders
    assert str(os.getpid()) in staging.name, "a folder another process could be writing into at the same time"
    assert built.template["by"] == "this process"
    assert run.configs == [{"version": "2.0", "stages": {"dev": {}}, "lambda_architecture": "arm64"}]
    assert "lambda_architecture" not in (api_dir / ".chalice" / "config.json").read_text(), "the app is not edited"
    assert packaging.package("dev", api_dir, build_dir, runtime=HERE).template == built.template
    assert len(run.folders) == 1, "the second call reuses the package"
    x86 = packaging.package("dev", api_dir, build_dir, runtime=HERE, architecture="x86_64")
    assert x86.source_hash != built.source_hash, "another processor is another package"


def test_a_bundle_that_does_not_fit_its_runtime_is_refused_and_not_kept(
    api_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_dir = tmp_path / "build"

    def chalice_on_another_python(argv: list[str], **_: Any) -> subprocess.CompletedProcess[bytes]:
        write_package(Path(argv[-1]), template(runtime="python3.9"))
        return subprocess.CompletedProcess(argv, 0)

    monkeypatch.setattr(subprocess, "run", chalice_on_another_python)
    with pytest.raises(packaging.PackagingError, match=r"APIHandler runs python3\.9"):
        packaging.package("dev", api_dir, build_dir, runtime=HERE)
    assert [path.name for path in build_dir.iterdir() if path.is_dir()] == []


def elf(machine: int) -> bytes:
    header = bytearray(64)
    header[:4] = b"\x7fELF"
    header[18:20] = machine.to_bytes(2, "little")
    return bytes(header)


def wheel(tag: str) -> bytes:
    return f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: {tag}\n".encode()


def metadata(name: str, version: str) -> dict[str, bytes]:
    return {f"{name}-{version}.dist-info/METADATA": b"Name: x\n"}


AARCH64, X86_64 = 183, 62


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        pytest.param(
            {"orjson/orjson.cpython-313-x86_64-linux-gnu.so": elf(X86_64)},
            "compiled for another processor",
            id="an x86-64 module in an arm64 bundle",
        ),
        pytest.param(
            {"orjson/orjson.cpython-311-aarch64-linux-gnu.so": elf(AARCH64)},
            "compiled for Python 3.11",
            id="a module for another Python",
        ),
        pytest.param(
            {"orjson-3.13.0.dist-info/WHEEL": wheel("cp313-cp313-manylinux_2_35_aarch64")},
            "built for cp313-cp313-manylinux_2_35_aarch64",
            id="a wheel needing a newer glibc than Amazon Linux 2023's",
        ),
        pytest.param(
            {"orjson-3.13.0.dist-info/WHEEL": wheel("cp312-cp312-manylinux_2_17_aarch64")},
            "built for cp312",
            id="a wheel for another Python",
        ),
        pytest.param(
            {"orjson-3.13.0.dist-info/WHEEL": wheel("cp313-cp313-macosx_11_0_arm64")},
            "macosx",
            id="a wheel for another system",
        ),
        pytest.param({}, "orjson==3.13.0 is not in the bundle", id="a requirement left out"),
    ],
)
def test_verify_names_what_does_not_fit(tmp_path: Path, files: dict[str, bytes], problem: str) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("orjson==3.13.0 \\\n    --hash=sha256:00\n    # via -r requirements.in\n")
    installed = metadata("orjson", "3.13.0") if files else {}
    write_package(tmp_path / "pkg", template("python3.13", "arm64"), {**installed, **files})
    built = packaging.ChalicePackage(tmp_path / "pkg" / "deployment.zip", template("python3.13", "arm64"), "k")

    problems = packaging.verify(built, "python3.13", "arm64", requirements)

    assert len(problems) == 1, problems
    assert problem in problems[0]


def test_verify_accepts_what_loads_there(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("orjson==3.13.0\ncryptography==50.0.2\nPyJWT==2.15.1\nsix==1.17.0\n")
    files = {
        **metadata("orjson", "3.13.0"),
        "orjson-3.13.0.dist-info/WHEEL": wheel("cp313-cp313-manylinux_2_17_aarch64"),
        "orjson/orjson.cpython-313-aarch64-linux-gnu.so": elf(AARCH64),
        **metadata("cryptography", "50.0.2"),
        "cryptography-50.0.2.dist-info/WHEEL": wheel("cp311-abi3-manylinux_2_34_aarch64"),
        "cryptography/hazmat/bindings/_rust.abi3.so": elf(AARCH64),
        **metadata("pyjwt", "2.15.1"),
        "pyjwt-2.15.1.dist-info/WHEEL": wheel("py3-none-any"),
        **metadata("six", "1.17.0"),
        "six-1.17.0.dist-info/WHEEL": wheel("py2.py3-none-any"),
    }
    write_package(tmp_path / "pkg", template("python3.13", "arm64"), files)
    built = packaging.ChalicePackage(tmp_path / "pkg" / "deployment.zip", template("python3.13", "arm64"), "k")

    assert packaging.verify(built, "python3.13", "arm64", requirements) == []

    # Amazon Linux 2 (python3.11) has glibc 2.26: a wheel that needs 2.34 does not load there.
    assert not packaging.tag_fits("cp311-abi3-manylinux_2_34_aarch64", "python3.11", "arm64")
    assert packaging.tag_fits("cp311-abi3-manylinux_2_26_aarch64", "python3.11", "arm64")
    assert packaging.tag_fits("cp311-abi3-manylinux2014_aarch64", "python3.11", "arm64")


def test_a_runtime_without_its_python_on_the_machine_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("PYENV_ROOT", "/nonexistent")
    with pytest.raises(packaging.PackagingError, match=r"install it \(python3\.99 on the PATH\), or set lambdaRuntime"):
        packaging.find_python("3.99")


def test_an_unknown_runtime_or_processor_is_refused(api_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(packaging.PackagingError):
        packaging.package("dev", api_dir, tmp_path, runtime="python2.7")
    with pytest.raises(packaging.PackagingError):
        packaging.package("dev", api_dir, tmp_path, runtime=HERE, architecture="ppc64le")
