"""Per cluster: the evidence, its strength, the score, and sentences a reviewer can check."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _noisy_or(*strengths) -> np.ndarray:
    out = np.ones_like(np.asarray(strengths[0], float))
    for s in strengths:
        out = out * (1 - np.clip(np.asarray(s, float), 0, 1))
    return 1 - out


def cluster_table(acc, members, links, strong, keys, sync, launches, cfg) -> pd.DataFrame:
    """One row per candidate component with its evidence strengths, score and flag."""
    if members.empty:
        return pd.DataFrame(columns=["comp", "size", "score", "flagged", "cluster"])
    m = members.join(acc, on="account_id")
    g = m.groupby("comp")
    t = pd.DataFrame({
        "size": g.size(), "requests": g["n_req"].sum(), "mean_s": g["s"].mean(),
        "cot_share": g["n_cot"].sum() / g["n_sampled"].sum().clip(lower=1),
        "median_blocks": g["n_blocks"].median(), "blocks_per_request": g["n_blocks"].sum() / g["n_req"].sum(),
        "launch_day": g["n_launch_day"].sum() if "n_launch_day" in m else 0,
        "launch_day_new": g["n_launch_day_new"].sum() if "n_launch_day_new" in m else 0,
        "avg_completion_tokens": g["avg_completion_tokens"].mean(),
        "completion_per_prompt": g["avg_completion_tokens"].mean() / g["avg_prompt_tokens"].mean(),
        "median_hours": g["n_hours"].median(),
        "median_gap_cv": (m["sd_gap"] / m["mean_gap"]).groupby(m["comp"]).median(),
    }).reset_index()
    t = t.merge(sync, on="comp", how="left").fillna({"sync_share": 0.0, "burst_windows": 0})
    t["link_kinds"] = t["comp"].map(links.groupby("comp")["kinds"].nunique()).fillna(0).astype(int)
    all_day = acc.get("n_launch_day", pd.Series(0.0)).sum()
    t["baseline_new"] = acc.get("n_launch_day_new", pd.Series(0.0)).sum() / all_day if all_day else 0.0
    t["new_share"] = (t["launch_day_new"] / t["launch_day"].replace(0, np.nan)).fillna(0.0)
    # Evidence strengths in [0, 1]; each is a different, independent kind of fact about the cluster.
    t["e_links"] = np.where(t["link_kinds"] >= 1, 0.5, 0.0)  # shared infrastructure of two kinds
    t["e_prompts"] = 0.5 * np.minimum(1, t["cot_share"] / 0.3)
    t["e_sync"] = 0.4 * np.minimum(1, t["sync_share"] / 0.3)
    t["e_rotation"] = 0.3 * np.minimum(1, np.maximum(0, t["median_blocks"] - 1) / 4)
    t["e_retarget"] = np.where((t["new_share"] >= 0.2) & (t["new_share"] >= 2 * t["baseline_new"])
                               & (t["launch_day"] >= 20), 0.3, 0.0)
    t["e_size"] = 0.2 * np.minimum(1, np.log10(t["size"].clip(lower=1)) / 2)
    t["score"] = _noisy_or(t["e_links"], t["e_prompts"], t["e_sync"], t["e_rotation"], t["e_retarget"], t["e_size"])
    # Shared infrastructure plus extraction prompts also fits a class of students behind one NAT
    # doing the same homework; an operator also shows at least one operational sign: IP rotation,
    # synchronized bursts, payment ids shared between accounts, or launch-day retargeting.
    pay = links[links["kinds"].str.contains("payment")].groupby("comp")["accounts"].max()
    t["payment_linked"] = t["comp"].map(pay).fillna(0) >= 2
    t["operational"] = ((t["median_blocks"] >= 3) | (t["sync_share"] >= 0.2) | t["payment_linked"]
                        | (t["e_retarget"] > 0))
    t["flagged"] = (t["size"] >= cfg.min_accounts) & (t["score"] >= cfg.flag_score) & t["operational"]
    t = t.sort_values(["flagged", "size"], ascending=False).reset_index(drop=True)
    t["cluster"] = ""
    t.loc[t["flagged"], "cluster"] = [f"op{i + 1:03d}" for i in range(int(t["flagged"].sum()))]
    return t


def _readable(key: str) -> str:
    """Template keys are 'h:<first words>' / 't:<last words>'; others are shown as they are."""
    if key.startswith(("h:", "t:")):
        return f'starts "{key[2:]} …"' if key[0] == "h" else f'ends "… {key[2:]}"'
    return repr(key[:80])


def _top_keys(strong: pd.DataFrame, ids: set, ktype: str, n: int = 3):
    s = strong[(strong["ktype"] == ktype) & strong["account_id"].isin(ids)]
    return s.groupby("k")["account_id"].nunique().sort_values(ascending=False).head(n), s["k"].nunique()


def describe(row, members, acc, examples, links, strong, keys) -> dict:
    """The cluster as JSON: members, numbers, and the evidence in sentences."""
    ids = members.loc[members["comp"] == row["comp"], "account_id"].tolist()
    idset = set(ids)
    ev = []
    for _, lk in links[links["comp"] == row["comp"]].sort_values("accounts", ascending=False).iterrows():
        ev.append(f"{lk['accounts']} of {row['size']} accounts are linked to another member by a shared "
                  f"{lk['kinds']} (both in common).")
    for ktype, what in (("payment", "payment ids"), ("ip_block", "IP blocks"), ("system_prompt", "system prompts"),
                        ("template", "prompt templates")):
        top, n = _top_keys(strong, idset, ktype)
        if n:
            shown = "; ".join(f"{_readable(k)} by {v} accounts" for k, v in top.items())
            ev.append(f"Members share {n} {what} used almost only by suspicious accounts (top: {shown}).")
    ua = keys[(keys["ktype"] == "user_agent") & keys["account_id"].isin(idset)]
    if len(ua):
        top = ua.groupby("k")["account_id"].nunique().sort_values(ascending=False).head(3)
        ev.append(f"Members use {ua['k'].nunique()} shared user agents between them (top: "
                  + "; ".join(f"{k[:60]!r} by {v} accounts" for k, v in top.items()) + ").")
    ev.append(f"{row['cot_share']:.0%} of the members' sampled prompts elicit step-by-step reasoning or "
              f"systematically extract capabilities.")
    ev.append(f"Median member uses {row['median_blocks']:.0f} IP blocks (rotation across networks).")
    ratio_all = acc["avg_completion_tokens"].mean() / acc["avg_prompt_tokens"].mean()
    ev.append(f"Completions are {row['completion_per_prompt']:.1f}× as long as prompts (all accounts: "
              f"{ratio_all:.1f}×); the median member is active in {row['median_hours']:.0f} of 24 hours of the day; "
              f"gaps between a member's requests vary by {row['median_gap_cv']:.1f}× their mean (1: random, "
              f"near 0: clockwork, above 1: bursts).")
    if row["sync_share"] > 0:
        ev.append(f"{row['sync_share']:.0%} of the cluster's requests fall in {int(row['burst_windows'])} five-minute "
                  f"windows where at least 5× the cluster's usual number of members were active together.")
    if row["e_retarget"] > 0:
        ev.append(f"On the first day of a newly launched model, {row['new_share']:.0%} of the cluster's traffic "
                  f"went to it (all accounts: {row['baseline_new']:.0%}).")
    ex = examples[examples["account_id"].isin(idset)]["prompt"].head(3).str.slice(0, 200).tolist()
    return {"cluster": row["cluster"], "score": round(float(row["score"]), 4), "accounts": int(row["size"]),
            "requests": int(row["requests"]), "evidence": ev, "example_prompts": ex,
            "strengths": {k[2:]: round(float(row[k]), 3) for k in row.index if k.startswith("e_")},
            "members": sorted(ids)}
