"""The one percentile every benchmark reports: nearest rank.

``percentile(values, 0.95)`` is the smallest sample with at least 95% of the samples at
or below it (the nearest-rank definition: index ``ceil(p * n) - 1`` of the sorted
samples). It is always a measured value, never a blend of two, so a p95 of a handful of
browser clicks or a p50 of five first-frame runs is a time that actually happened; and
it is what the headline targets were already judged on (the browser's click-to-screen
p95, the first frame's p50). The median is ``percentile(values, 0.5)``: for an even
count it is the lower of the two middle samples, where ``statistics.median`` would
average them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], fraction: float) -> float:
    """The nearest-rank ``fraction`` percentile (0 < fraction <= 1) of ``values``, which must not be empty."""
    if not 0 < fraction <= 1:
        raise ValueError(f"a percentile's fraction is in (0, 1], not {fraction}")
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no samples")
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]
