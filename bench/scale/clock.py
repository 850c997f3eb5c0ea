"""Simulated time for the app's own modules."""

from __future__ import annotations

import sys
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class VirtualClock:
    """A wall clock and a monotonic clock that move only when the simulation moves them.

    ``installed()`` makes the app's modules (``app``, ``chalicelib.*``) read it: their
    ``time`` module and any ``time.time``/``time.monotonic`` they hold (imported names,
    default arguments such as ``clock=time.time``) are swapped for this clock's, and put
    back on exit. Instances that already captured a clock are not reached, which is why
    the services are built after installing.
    """

    def __init__(self) -> None:
        # A whole minute, so simulated time 0 starts a rate-limit window.
        self._wall0 = float(int(time.time()) // 60 * 60)
        self._mono0 = time.monotonic()
        self.offset = 0.0

    def set(self, seconds: float) -> None:
        """Simulated seconds since the start (never backwards)."""
        self.offset = max(self.offset, seconds)

    def time(self) -> float:
        """``time.time()`` in simulated time."""
        return self._wall0 + self.offset

    def time_ns(self) -> int:
        """``time.time_ns()`` in simulated time."""
        return int(self.time() * 1e9)

    def monotonic(self) -> float:
        """``time.monotonic()`` in simulated time."""
        return self._mono0 + self.offset

    def monotonic_ns(self) -> int:
        """``time.monotonic_ns()`` in simulated time."""
        return int(self.monotonic() * 1e9)

    def wall_ms(self, seconds: float) -> int:
        """Epoch milliseconds at ``seconds`` of simulated time."""
        return int((self._wall0 + seconds) * 1000)

    @contextmanager
    def installed(self, prefixes: tuple[str, ...] = ("app", "chalicelib")) -> Iterator[None]:
        """The app's modules read this clock inside the block."""
        swaps = {
            id(time.time): self.time,
            id(time.time_ns): self.time_ns,
            id(time.monotonic): self.monotonic,
            id(time.monotonic_ns): self.monotonic_ns,
        }
        proxy = types.SimpleNamespace(**{name: getattr(time, name) for name in dir(time) if not name.startswith("__")})
        for name in ("time", "time_ns", "monotonic", "monotonic_ns"):
            setattr(proxy, name, getattr(self, name))
        undo: list[Callable[[], None]] = []
        for module_name, module in list(sys.modules.items()):
            if module is None or module_name.split(".")[0] not in prefixes:
                continue
            for attr, value in list(vars(module).items()):
                if value is time:
                    undo.append(_setter(module, attr, value))
                    setattr(module, attr, proxy)
                elif id(value) in swaps and value is not swaps[id(value)]:
                    undo.append(_setter(module, attr, value))
                    setattr(module, attr, swaps[id(value)])
                elif getattr(value, "__module__", None) == module_name:
                    for function in functions_of(value):
                        undo.extend(_swap_defaults(function, swaps))
        try:
            yield
        finally:
            for restore in reversed(undo):
                restore()


def _setter(target: Any, attr: str, value: Any) -> Callable[[], None]:
    return lambda: setattr(target, attr, value)


def functions_of(value: Any) -> Iterator[types.FunctionType]:
    """A module-level function, or the functions of a class (methods, static, class methods)."""
    if isinstance(value, types.FunctionType):
        yield value
    elif isinstance(value, type):
        for member in vars(value).values():
            member = getattr(member, "__func__", member)
            if isinstance(member, types.FunctionType):
                yield member


def _swap_defaults(function: types.FunctionType, swaps: dict[int, Any]) -> list[Callable[[], None]]:
    undo = []
    if function.__defaults__ and any(id(d) in swaps for d in function.__defaults__):
        undo.append(_setter(function, "__defaults__", function.__defaults__))
        function.__defaults__ = tuple(swaps.get(id(d), d) for d in function.__defaults__)
    if function.__kwdefaults__ and any(id(d) in swaps for d in function.__kwdefaults__.values()):
        undo.append(_setter(function, "__kwdefaults__", function.__kwdefaults__))
        function.__kwdefaults__ = {k: swaps.get(id(d), d) for k, d in function.__kwdefaults__.items()}
    return undo
