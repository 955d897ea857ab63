"""Speeds from repeated timings: a median with its spread, and a ratio only where the spreads allow one.

One timing of a forward on a shared CPU varies by tens of percent from run to run, so two models
of the same architecture timed once each come out "1.54×" and "1.67×" faster than their teacher.
Each speed is timed ``repeats`` times; a comparison is reported only when the two min–max ranges
do not overlap, otherwise the models are "≈" as fast (the difference is inside the noise).
"""

from __future__ import annotations

import statistics
from typing import Sequence


def spread(rates: Sequence[float]) -> dict:
    """{"median", "min", "max", "repeats", "rates"} of repeated rates (e.g. tokens/s); the rates are kept
    so that timings of two runs can be pooled (``spread(a["rates"] + b["rates"])``).

    Args:
        rates: the measured rates.

    Returns:
        The summary dict.

    Raises:
        ValueError: ``rates`` is empty.
    """
    if not rates:
        raise ValueError("spread needs at least one timing, got none")
    return {"median": statistics.median(rates), "min": min(rates), "max": max(rates), "repeats": len(rates),
            "rates": list(rates)}


def overlap(a: dict, b: dict) -> bool:
    """Whether two ``spread`` ranges [min, max] overlap (touching counts as overlapping).

    Args:
        a: a `spread` result.
        b: another.

    Returns:
        Whether the ranges overlap.
    """
    return a["min"] <= b["max"] and b["min"] <= a["max"]


def ratio(a: dict, b: dict) -> float | None:
    """median(a) / median(b), or None when the ranges overlap (no difference can be claimed).

    Args:
        a: a `spread` result (numerator).
        b: another (denominator).

    Returns:
        The ratio of medians, or None.
    """
    return None if overlap(a, b) else a["median"] / b["median"]


def fmt_ratio(a: dict, b: dict) -> str:
    """'1.62×', or '≈ 1×' when the ranges overlap.

    Args:
        a: a `spread` result (numerator).
        b: another (denominator).

    Returns:
        The formatted ratio.
    """
    r = ratio(a, b)
    return "≈ 1×" if r is None else f"{r:.2f}×"


def fmt_spread(s: dict, digits: int = 0) -> str:
    """'812 (790–840)' : the median and the min–max range.

    Args:
        s: a `spread` result.
        digits: decimals shown.

    Returns:
        The formatted spread.
    """
    return f"{s['median']:,.{digits}f} ({s['min']:,.{digits}f}–{s['max']:,.{digits}f})"
