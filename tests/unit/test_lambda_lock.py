"""The Lambda bundle's lock: api/requirements.txt pins and hashes everything api/requirements.in asks for."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==([^\s;\\]+)")


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked() -> dict[str, tuple[str, list[str]]]:
    """Package -> (version, hashes) as the lock lists them (a pin, then its ``--hash`` lines)."""
    locked: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in (ROOT / "api" / "requirements.txt").read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pin = PIN.match(stripped)
        if pin:
            current = _name(pin.group(1))
            locked[current] = (pin.group(2), [])
        elif stripped.startswith("--hash=") and current is not None:
            locked[current][1].append(stripped.removeprefix("--hash=").rstrip(" \\"))
        else:
            raise AssertionError(f"the lock has a line that is neither a pin nor a hash: {line!r}")
    return locked


def test_every_requirement_of_the_app_is_locked_at_its_pinned_version() -> None:
    locked = _locked()
    wanted = [PIN.match(line.strip()) for line in (ROOT / "api" / "requirements.in").read_text().splitlines()]
    pins = {_name(pin.group(1)): pin.group(2) for pin in wanted if pin}
    assert pins, "api/requirements.in pins nothing"
    for name, version in pins.items():
        assert name in locked, f"{name} is missing from api/requirements.txt: run pip-compile (see requirements.in)"
        assert locked[name][0] == version, f"{name}: requirements.in pins {version}, the lock {locked[name][0]}"


def test_every_locked_package_is_pinned_with_a_hash() -> None:
    locked = _locked()
    # The transitive dependencies are there too (requests brings urllib3, cryptography cffi).
    assert {"urllib3", "cffi", "certifi"} <= set(locked)
    for name, (_, hashes) in locked.items():
        assert hashes, f"{name} has no --hash in api/requirements.txt"
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), f"{name}: {hashes}"
