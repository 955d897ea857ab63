"""The account graph: which suspicious accounts share infrastructure, joined into operators.

A key is anything two accounts can have in common: an IP block, a payment id, a system prompt,
a prompt template. A key *counts* only when most accounts using it are individually suspicious
(a university NAT block is shared by hundreds of ordinary users: it links nobody). Two accounts
are linked only when they share keys of **two different kinds, one of them infrastructure** (IP
block or payment id): the same proxy block and the same template, or the same card and the same
block. One shared kind is common by chance; content alone (a system prompt, a template) can be
copied by unrelated operators from the same public recipe; infrastructure plus content is not. Connected components of that graph are the candidate operators.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

LINK_KINDS = ("ip_block", "payment", "system_prompt", "template")
PER_KIND = 8  # keys of each kind kept per account (the most used): bounds the pairs per account


def strong_keys(keys: pd.DataFrame, suspicious: pd.Series, dominance: float = 0.5) -> pd.DataFrame:
    """Rows of ``keys`` (account_id, ktype, k, n) whose key is used mostly by suspicious accounts.

    ``suspicious``: bool Series indexed by account_id. Adds n_accounts, n_suspicious per key.
    """
    k = keys.assign(susp=keys["account_id"].map(suspicious).fillna(False).astype(bool))
    stats = k.groupby(["ktype", "k"], sort=False).agg(n_accounts=("account_id", "size"), n_suspicious=("susp", "sum"))
    k = k.join(stats, on=["ktype", "k"])
    ok = k["susp"] & (k["n_suspicious"] >= 2) & (k["n_suspicious"] >= dominance * k["n_accounts"])
    return k[ok & k["ktype"].isin(LINK_KINDS)].drop(columns="susp")


def components(strong: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Join accounts that share keys of two different kinds.

    Returns (members: account_id → comp, links: comp, pair of kinds, accounts linked that way).
    """
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    if strong.empty:
        return pd.DataFrame(columns=["account_id", "comp"]), pd.DataFrame(columns=["comp", "kinds", "accounts"])
    s = strong.sort_values("n", ascending=False).groupby(["account_id", "ktype"], sort=False).head(PER_KIND)
    acc_codes, accounts = pd.factorize(s["account_id"])
    key_codes, _ = pd.factorize(s["ktype"] + "\x00" + s["k"].astype(str))
    kind_codes = s["ktype"].map({k: i for i, k in enumerate(LINK_KINDS)}).to_numpy()
    df = pd.DataFrame({"a": acc_codes, "key": key_codes, "kind": kind_codes})
    pairs = df.merge(df, on="a")  # every pair of keys an account holds …
    # … of two different kinds, the first being infrastructure (ip_block or payment: codes 0, 1)
    pairs = pairs[(pairs["kind_x"] < pairs["kind_y"]) & (pairs["kind_x"] <= 1)]
    n_keys = int(key_codes.max()) + 1
    combo = pairs["key_x"].to_numpy(np.int64) * n_keys + pairs["key_y"].to_numpy(np.int64)
    a = pairs["a"].to_numpy()
    order = np.argsort(combo, kind="stable")
    combo, a = combo[order], a[order]
    first = np.r_[True, combo[1:] != combo[:-1]]
    head = np.maximum.accumulate(np.where(first, np.arange(len(combo)), 0))  # first holder of each combo
    src, dst = a[head], a
    n = len(accounts)
    g = sp.coo_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
    _, labels = connected_components(g, directed=False)
    members = pd.DataFrame({"account_id": accounts, "comp": labels})
    linked = src != dst
    kinds = np.array(LINK_KINDS, dtype=object)
    lk = pd.DataFrame({"comp": labels[dst[linked]], "a": dst[linked],
                       "kinds": kinds[pairs["kind_x"].to_numpy()[order][linked]] + " + "
                       + kinds[pairs["kind_y"].to_numpy()[order][linked]]})
    links = lk.groupby(["comp", "kinds"]).agg(accounts=("a", "nunique")).reset_index()
    return members, links


def sync_share(buckets: pd.DataFrame, factor: float = 5.0) -> pd.DataFrame:
    """Share of each component's requests in its synchronized bursts.

    ``buckets``: comp, bucket, active (distinct members active in that 5-minute window), n.
    A burst window has ≥ ``factor`` × the component's median number of active members (and ≥ 3):
    independent people drift through the day; orchestrated accounts fire together.
    """
    if buckets.empty:
        return pd.DataFrame(columns=["comp", "sync_share", "burst_windows"])
    med = buckets.groupby("comp")["active"].transform("median")
    burst = (buckets["active"] >= np.maximum(3, factor * med))
    g = buckets.assign(burst_n=np.where(burst, buckets["n"], 0), burst=burst).groupby("comp")
    out = pd.DataFrame({"sync_share": g["burst_n"].sum() / g["n"].sum(), "burst_windows": g["burst"].sum()})
    return out.reset_index()
