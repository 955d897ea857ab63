"""How a knob's value is drawn: the few distributions that range sets are written in."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class U:
    """Uniform real in [lo, hi]."""

    lo: float
    hi: float

    def draw(self, rng: np.random.Generator) -> float:
        """Draw one value.

        Args:
            rng: the scenario's seeded generator; one draw advances it.

        Returns:
            A float in [lo, hi], rounded to 4 decimals (so recorded truths read cleanly).
        """
        return float(round(rng.uniform(self.lo, self.hi), 4))


@dataclass(frozen=True)
class LogU:
    """Log-uniform real in [lo, hi] (sizes and rates spread over orders of magnitude)."""

    lo: float
    hi: float

    def draw(self, rng: np.random.Generator) -> float:
        """Draw one value: exp of a uniform draw in [log lo, log hi] (needs 0 < lo ≤ hi).

        Args:
            rng: the scenario's seeded generator; one draw advances it.

        Returns:
            A float in [lo, hi], rounded to 4 decimals.
        """
        return float(round(math.exp(rng.uniform(math.log(self.lo), math.log(self.hi))), 4))


@dataclass(frozen=True)
class I:  # noqa: E742 - the short name reads like the other specs
    """Uniform integer in [lo, hi], both included."""

    lo: int
    hi: int

    def draw(self, rng: np.random.Generator) -> int:
        """Draw one value.

        Args:
            rng: the scenario's seeded generator; one draw advances it.

        Returns:
            An int in [lo, hi], each equally likely.
        """
        return int(rng.integers(self.lo, self.hi + 1))


@dataclass(frozen=True)
class P:
    """True with probability p."""

    p: float

    def draw(self, rng: np.random.Generator) -> bool:
        """Draw one value.

        Args:
            rng: the scenario's seeded generator; one draw advances it.

        Returns:
            True with probability p.
        """
        return bool(rng.random() < self.p)


@dataclass(frozen=True)
class Choice:
    """One of ``options``, with optional weights."""

    options: tuple
    weights: tuple[float, ...] | None = None

    def draw(self, rng: np.random.Generator) -> Any:
        """Draw one option.

        Args:
            rng: the scenario's seeded generator; one draw advances it.

        Returns:
            One of ``options``, with probability proportional to its weight (equal without weights).
        """
        w = None if self.weights is None else np.asarray(self.weights, float) / sum(self.weights)
        return self.options[int(rng.choice(len(self.options), p=w))]


@dataclass(frozen=True)
class Fixed:
    """Always ``value``."""

    value: Any

    def draw(self, rng: np.random.Generator) -> Any:
        """Give the fixed value.

        Args:
            rng: unused (not advanced); taken so that every spec draws alike.

        Returns:
            ``value``.
        """
        return self.value


Spec = U | LogU | I | P | Choice | Fixed


def as_spec(value: Any) -> Spec:
    """A spec as given, a (lo, hi) pair as a uniform range, anything else as a fixed value.

    Args:
        value: a knob's setting: a spec, a ``(lo, hi)`` tuple of numbers (two ints: :class:`I`, else
            :class:`U`), or any other value (a list is fixed, not a range).

    Returns:
        The spec whose ``draw(rng)`` gives the knob's value.
    """
    if isinstance(value, (U, LogU, I, P, Choice, Fixed)):
        return value
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        lo, hi = value
        return I(lo, hi) if isinstance(lo, int) and isinstance(hi, int) else U(float(lo), float(hi))
    return Fixed(value)
