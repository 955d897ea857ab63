"""Per-account evidence, computed for every account, each in [0, 1], and the account's suspicion.

Each strength answers one question a reviewer would ask, from the account's own requests:

* ``extract``: how far above the population's background the share of its prompts that elicit
  reasoning traces or extract capabilities is (all its prompts up to a cap, not a sample of 12);
* ``rotation``: how many distinct IP blocks of its own it used per request (blocks of the privacy
  relays given with ``--relays`` left out): ordinary people keep to a few networks;
* ``volume``: requests per active day and activity round the clock;
* ``wave``: whether the account appeared inside a burst of new accounts (first-seen waves) and
  lived only a few days;
* ``meta``: account metadata when given (prepaid cards, throwaway email domains, credit programmes,
  signup waves).

None of them alone proves much (a researcher asks for reasoning, a traveller changes networks); the
suspicion is their noisy-or, and flags come from communities of suspicious accounts
(``evidence.py``) or from two independent strong strengths at once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

WEIGHTS = {"extract": 0.6, "rotation": 0.55, "volume": 0.3, "wave": 0.3, "meta": 0.4}
DAY = 86_400


def noisy_or(parts: dict, weights: dict = WEIGHTS) -> np.ndarray:
    """Suspicion as the noisy-or of weighted strengths: 1 − Π_k (1 − w_k · clip(v_k, 0, 1)).

    Args:
        parts: strength name → per-account values (N,) in [0, 1].
        weights: strength name → weight in [0, 1]; must cover every key of ``parts``.

    Returns:
        Suspicion per account (N,), in [0, 1].
    """
    out = None
    for k, v in parts.items():
        term = 1 - weights[k] * np.clip(np.asarray(v, float), 0, 1)
        out = term if out is None else out * term
    return 1 - out


def extract_strength(n_hit, n_seen, background: float) -> np.ndarray:
    """Share of extraction prompts above ``background``, discounted when few prompts were read.

    Args:
        n_hit: per account, prompts read that elicit reasoning or extract capabilities (N,).
        n_seen: per account, prompts read (N,); full weight from 8 on.
        background: the population's share of such prompts, in [0, 1].

    Returns:
        Strength per account (N,), in [0, 1].
    """
    n_seen = np.asarray(n_seen, float)
    share = np.where(n_seen > 0, np.asarray(n_hit, float) / np.maximum(n_seen, 1), 0.0)
    return np.clip((share - 1.5 * background) / 0.25, 0, 1) * np.minimum(1, n_seen / 8)


def rotation_strength(n_blocks_own, n_req_own) -> np.ndarray:
    """Distinct own blocks per request beyond the first, discounted below ~9 requests.

    Args:
        n_blocks_own: per account, distinct IP blocks used, relays left out (N,).
        n_req_own: per account, requests from those blocks (N,); below 3 the strength is 0.

    Returns:
        Strength per account (N,), in [0, 1].
    """
    n = np.asarray(n_req_own, float)
    r = np.where(n >= 3, (np.asarray(n_blocks_own, float) - 1) / np.maximum(n - 1, 1), 0.0)
    return np.clip((r - 0.25) / 0.45, 0, 1) * np.minimum(1, (n - 1).clip(0) / 8)


def volume_strength(n_req, n_days, n_hour_slots) -> np.ndarray:
    """Requests per active day (log scale, from 60/day), or active in many hours of each active day.

    "Round the clock" is counted per active day (distinct clock hours with a request, divided by
    active days), not as distinct hours of the day over the whole window: a person active on 20
    days covers 19 of the 24 hours of the day by chance, but is active 2–5 hours on a day; a
    script keeps going for 8 or more.

    Args:
        n_req: per account, requests (N,).
        n_days: per account, active days (N,).
        n_hour_slots: per account, distinct clock hours (Unix hour numbers) with a request (N,).

    Returns:
        Strength per account (N,), in [0, 1]: full at ≥ 250 requests per day or ≥ 14 active hours
        per active day (the latter from 30 requests on).
    """
    n_days = np.maximum(np.asarray(n_days, float), 1)
    per_day = np.asarray(n_req, float) / n_days
    busy = np.clip(np.log10(np.maximum(per_day, 1) / 60) / 1.2, 0, 1)
    hours_per_day = np.asarray(n_hour_slots, float) / n_days
    flat = np.clip((hours_per_day - 6) / 8, 0, 1) * (np.asarray(n_req) >= 30)
    return np.maximum(busy, flat)


def wave_strength(first_t, last_t, t0: float, t1: float) -> np.ndarray:
    """First seen in an hour with many more new accounts than usual, and short-lived.

    Args:
        first_t: per account, first request time, Unix seconds (N,).
        last_t: per account, last request time, Unix seconds (N,).
        t0: start of the logs, Unix seconds.
        t1: end of the logs, Unix seconds.

    Returns:
        Strength per account (N,), in [0, 1].
    """
    first_t = np.asarray(first_t, float)
    hour = np.floor(first_t / 3600)
    later = first_t >= t0 + DAY  # accounts present on the first day may simply predate the logs
    counts = pd.Series(hour[later]).value_counts()
    base = float(counts.median()) if len(counts) else 0.0
    n_new = pd.Series(hour).map(counts).fillna(0).to_numpy()
    burst = np.clip((n_new / max(base, 1) - 3) / 7, 0, 1) * later
    life = (np.asarray(last_t, float) - first_t) / DAY
    window = max((t1 - t0) / DAY, 1)
    short = np.clip(1 - life / min(7, window), 0, 1) * ((t1 - np.asarray(last_t, float)) > DAY)  # ended early
    return np.clip(burst * (0.5 + 0.5 * short) + 0.3 * short * later, 0, 1)


def meta_strength(meta: pd.DataFrame, index: pd.Index) -> np.ndarray:
    """From the optional account metadata: throwaway payment / email, credit programmes, signup waves.

    Args:
        meta: metadata indexed by account (columns ``payment_type``, ``program``, ``signup_ts``,
            ``payment_bin``, each optional), or None.
        index: the accounts, in output order.

    Returns:
        Strength per account (N,), in [0, 1]; zeros without metadata.
    """
    if meta is None or meta.empty:
        return np.zeros(len(index))
    m = meta.reindex(index)
    prepaid = m.get("payment_type", pd.Series(index=index, dtype=object)).isin(["prepaid", "virtual", "none"])
    program = m.get("program", pd.Series(index=index, dtype=object)).isin(["startup", "education", "research"])
    # what counts is many *new* accounts at once, or with the same card BIN in the same hour
    sig = pd.to_datetime(m.get("signup_ts", pd.Series(index=index, dtype=object)), utc=True, errors="coerce")
    hour = (sig.astype("int64") // 3_600_000_000_000).where(sig.notna())
    per_hour = hour.map(hour.value_counts())
    base = float(hour.value_counts().median()) if hour.notna().any() else 1.0
    wave = np.clip((per_hour.fillna(0).to_numpy() / max(base, 1) - 3) / 7, 0, 1)
    bin_ = m.get("payment_bin", pd.Series(index=index, dtype=object)).astype("string")
    bin_wave = (bin_ + "|" + hour.astype("string")).map((bin_ + "|" + hour.astype("string")).value_counts())
    shared_bin = np.clip((bin_wave.fillna(0).to_numpy() - 2) / 8, 0, 1)
    return np.clip(0.35 * prepaid.to_numpy() + 0.25 * program.to_numpy() + 0.4 * np.maximum(wave, shared_bin), 0, 1)


def evidence(acc: pd.DataFrame, background: float, t0: float, t1: float, meta=None) -> pd.DataFrame:
    """The strengths of every account (columns e_*) and its suspicion ``s``.

    Args:
        acc: one row per account with columns n_hit, n_seen, n_blocks_own, n_req_own, n_req, n_days,
            n_hour_slots, first_t, last_t.
        background: the population's share of extraction prompts, in [0, 1].
        t0: start of the logs, Unix seconds.
        t1: end of the logs, Unix seconds.
        meta: optional account metadata (see :func:`meta_strength`).

    Returns:
        Columns e_extract, e_rotation, e_volume, e_wave, e_meta and s, on ``acc``'s index.
    """
    parts = {
        "extract": extract_strength(acc["n_hit"], acc["n_seen"], background),
        "rotation": rotation_strength(acc["n_blocks_own"], acc["n_req_own"]),
        "volume": volume_strength(acc["n_req"], acc["n_days"], acc["n_hour_slots"]),
        "wave": wave_strength(acc["first_t"], acc["last_t"], t0, t1),
        "meta": meta_strength(meta, acc.index),
    }
    out = pd.DataFrame({f"e_{k}": np.round(v, 6) for k, v in parts.items()}, index=acc.index)
    out["s"] = np.round(noisy_or(parts), 6)
    return out


def human_share(acc: pd.DataFrame, t0: float) -> np.ndarray:
    """Whether each account looks like an established person: there from the first day, human volume, few networks.

    Args:
        acc: one row per account with columns n_req, n_days, first_t and e_rotation.
        t0: start of the logs, Unix seconds.

    Returns:
        Boolean per account (N,).
    """
    per_day = acc["n_req"] / acc["n_days"].clip(lower=1)
    return ((acc["first_t"] < t0 + DAY) & (per_day <= 40) & (acc["e_rotation"] < 0.2)).to_numpy()
