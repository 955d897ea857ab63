"""A synthetic reasoning task small enough for a CPU: two-digit addition with a chain-of-thought trace.

The antidistillation benchmark (``benchmarks/antidistill.py``) needs a task whose answers are checkable and
whose traces a tiny model can learn in seconds. Each example is a fixed-length character string, so batches
need no padding and every prompt has the same length:

    prompt  "57+68:"                      (PROMPT_CHARS = 6)
    trace   "7+8+0=15;5+6+1=12;125."      (TRACE_CHARS = 22): per digit, right to left, digit + digit + carry
                                           = two-digit sum; then the three-digit result and a full stop.

The vocabulary is the 15 characters ``0123456789+:=;.``, one token each (id = position in :data:`VOCAB`).
A trace is *correct* when its final three digits are the true sum, whatever its intermediate steps say.
"""

from __future__ import annotations

from typing import Sequence

VOCAB = "0123456789+:=;."
PROMPT_CHARS = 6
TRACE_CHARS = 22


def prompt(a: int, b: int) -> str:
    """The prompt of ``a + b``.

    Args:
        a: first operand, 0–99.
        b: second operand, 0–99.

    Returns:
        The 6-character prompt, e.g. ``"07+68:"``.

    Raises:
        ValueError: an operand outside 0–99.
    """
    if not (0 <= a <= 99 and 0 <= b <= 99):
        raise ValueError(f"operands must be in 0..99, got {a} and {b}.")
    return f"{a:02d}+{b:02d}:"


def trace(a: int, b: int) -> str:
    """The correct chain-of-thought trace of ``a + b`` (see the module docstring).

    Args:
        a: first operand, 0–99.
        b: second operand, 0–99.

    Returns:
        The 22-character trace, e.g. ``trace(57, 68) == "7+8+0=15;5+6+1=12;125."``.
    """
    prompt(a, b)  # range check
    steps, carry = [], 0
    for x, y in ((a % 10, b % 10), (a // 10, b // 10)):
        s = x + y + carry
        steps.append(f"{x}+{y}+{carry}={s:02d};")
        carry = s // 10
    return "".join(steps) + f"{a + b:03d}."


def encode(text: str) -> list[int]:
    """Token ids of a task string.

    Args:
        text: characters of :data:`VOCAB` only.

    Returns:
        One id per character.

    Raises:
        ValueError: a character outside the vocabulary.
    """
    bad = sorted(set(text) - set(VOCAB))
    if bad:
        raise ValueError(f"characters {bad} are not in the arithmetic vocabulary {VOCAB!r}.")
    return [VOCAB.index(c) for c in text]


def decode(ids: Sequence[int]) -> str:
    """The string of token ids (ids outside the vocabulary become ``?``).

    Args:
        ids: token ids.

    Returns:
        The decoded characters.
    """
    return "".join(VOCAB[i] if 0 <= i < len(VOCAB) else "?" for i in ids)


def final_answer(text: str) -> int | None:
    """The result a trace states: the three digits after its last ``;``, before the final ``.``.

    Args:
        text: a (possibly malformed) trace.

    Returns:
        The stated sum, or None when the trace does not end in three digits and a full stop.
    """
    tail = text.rsplit(";", 1)[-1]
    if len(tail) != 4 or tail[-1] != "." or not tail[:3].isdigit():
        return None
    return int(tail[:3])


def accuracy(pairs: Sequence[tuple[int, int]], traces: Sequence[str]) -> float:
    """Share of traces whose final answer is the true sum of their pair.

    Args:
        pairs: the (a, b) operands of each example.
        traces: one trace per pair.

    Returns:
        The share in [0, 1].

    Raises:
        ValueError: different numbers of pairs and traces, or none.
    """
    if len(pairs) != len(traces) or not pairs:
        raise ValueError(f"need as many traces as pairs (and at least one), got {len(traces)} and {len(pairs)}.")
    return sum(final_answer(t) == a + b for (a, b), t in zip(pairs, traces, strict=True)) / len(pairs)


def split_pairs(seed: int, sizes: Sequence[int]) -> list[list[tuple[int, int]]]:
    """Disjoint random sets of operand pairs out of the 10,000 pairs 0–99 × 0–99.

    Args:
        seed: the shuffle's seed (same seed, same sets).
        sizes: how many pairs each set holds.

    Returns:
        One list of (a, b) pairs per size, disjoint.

    Raises:
        ValueError: the sizes add up to more than 10,000.
    """
    import numpy as np

    if sum(sizes) > 10_000:
        raise ValueError(f"sizes {list(sizes)} add up to more than the 10,000 pairs there are.")
    order = np.random.default_rng(seed).permutation(10_000)
    out, i = [], 0
    for n in sizes:
        out.append([(int(k) // 100, int(k) % 100) for k in order[i:i + n]])
        i += n
    return out
