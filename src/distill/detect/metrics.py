"""Scores of a traffic scan against a simulator's truth: precision, recall, operator ARI, decoy FPR."""

from __future__ import annotations

from pathlib import Path


def score(out: str | Path, truth_dir: str | Path) -> dict:
    """Compare a scan's ``accounts.csv`` with the simulator's ``truth.csv`` and ``kinds.csv``.

    Args:
        out: the scan's output folder (holding accounts.csv: account_id, flagged, cluster).
        truth_dir: the simulator's folder (truth.csv: account_id, operator[, operator_kind];
            kinds.csv: account_id, kind).

    Returns:
        {"precision", "recall", "operator_ari", "decoy_fpr", "decoy_fpr_by_kind",
        "recall_by_operator_kind", "genuine_fpr", "true_positives", "false_positives",
        "false_negatives", "campaign_accounts", "operators", "clusters_flagged"}; rates in [0, 1].
    """
    import pandas as pd
    from sklearn.metrics import adjusted_rand_score

    acc = pd.read_csv(Path(out) / "accounts.csv", dtype={"cluster": str}, keep_default_na=False)
    truth = pd.read_csv(Path(truth_dir) / "truth.csv", dtype=str, keep_default_na=False)
    kinds = pd.read_csv(Path(truth_dir) / "kinds.csv", dtype=str)
    # truth.csv lists every account (old simulator, operator "" if genuine) or only campaign accounts (scenarios)
    d = kinds.merge(truth, on="account_id", how="left").fillna({"operator": ""}).merge(acc, on="account_id",
                                                                                        how="left")
    d["flagged"] = d["flagged"].fillna(0).astype(int)
    bad = d["operator"] != ""
    tp = int((bad & (d["flagged"] == 1)).sum())
    fp = int((~bad & (d["flagged"] == 1)).sum())
    fn = int((bad & (d["flagged"] == 0)).sum())
    # ARI over campaign accounts and anything flagged: truth operator (genuine: own singleton) vs
    # predicted cluster (not flagged: own singleton).
    sel = d[bad | (d["flagged"] == 1)]
    t_lab = [o or f"genuine:{a}" for o, a in zip(sel["operator"], sel["account_id"], strict=True)]
    p_lab = [c or f"none:{a}" for c, a in zip(sel["cluster"], sel["account_id"], strict=True)]
    decoys = ("nat", "batch", "research", "cgnat", "class", "privacy_relay")
    decoy = d["kind"].isin(decoys)
    return {
        "precision": tp / max(tp + fp, 1), "recall": tp / max(tp + fn, 1), "operator_ari": adjusted_rand_score(t_lab, p_lab),
        "decoy_fpr": float(d.loc[decoy, "flagged"].mean()) if decoy.any() else 0.0,
        "decoy_fpr_by_kind": {k: float(d.loc[d["kind"] == k, "flagged"].mean()) for k in decoys
                              if (d["kind"] == k).any()},
        "recall_by_operator_kind": {k: float(g["flagged"].mean()) for k, g in d[bad].groupby("operator_kind")}
        if "operator_kind" in d else {},
        "genuine_fpr": float(d.loc[d["kind"] == "benign", "flagged"].mean()),
        "true_positives": tp, "false_positives": fp, "false_negatives": fn,
        "campaign_accounts": int(bad.sum()), "operators": int(d.loc[bad, "operator"].nunique()),
        "clusters_flagged": int(d.loc[d["flagged"] == 1, "cluster"].nunique()),
    }
