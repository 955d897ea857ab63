"""Development diagnostics of `distill detect traffic` on the *development* knob ranges only.

For each (records, preset, seed): simulate with ``--ranges dev``, scan, score, and per operator say
how many of its accounts became candidates, which evidence they had, and how many communities its
candidates fell into (what keeps recall and operator ARI down). Never run it with held-out ranges.

    nice python benchmarks/detect_dev.py --records 300000 --presets default all_four --seeds 301 302 303
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def simulate(records: int, preset: str, seed: int, work: Path, sets: tuple = (), name: str = "") -> Path:
    sim = work / f"sim_{preset}{name}_dev_{records}_{seed}"
    if not (sim / "kinds.csv").exists():
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
        subprocess.run([sys.executable, "-m", "distill", "detect", "simulate", "--records", str(records), "--seed",
                        str(seed), "--preset", preset, "--ranges", "dev", "--out", str(sim)] + (["--set", *sets] if sets else []),
                       env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return sim


def scan(sim: Path, out: Path, meta: bool = False) -> float:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    cmd = [sys.executable, "-m", "distill", "detect", "traffic", str(sim / "logs"), "--out", str(out),
           "--relays", str(sim / "privacy_relays.txt"), "--json"]
    if meta:
        cmd += ["--accounts-meta", str(sim / "accounts_meta.parquet")]
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def diagnose(out: Path, sim: Path, suspicious: float = 0.25) -> list[dict]:
    """Per operator: accounts, candidates, flagged, communities, mean evidence of its accounts."""
    import pandas as pd

    ev = pd.read_csv(out / "evidence.csv", dtype={"account_id": str})
    acc = pd.read_csv(out / "accounts.csv", dtype={"account_id": str, "cluster": str}, keep_default_na=False)
    truth = pd.read_csv(sim / "truth.csv", dtype=str, keep_default_na=False)
    d = truth.merge(ev, on="account_id", how="left").merge(acc[["account_id", "flagged", "cluster"]], on="account_id",
                                                           how="left")
    rows = []
    for op, g in d.groupby("operator", sort=True):
        cand = g[g["s"] >= suspicious]
        fl = g[g["flagged"] == 1]
        rows.append({"operator": op, "kind": g["operator_kind"].iloc[0], "n": len(g), "cand": len(cand),
                     "flagged": len(fl), "comps": int(cand["comp"].nunique()),
                     "clusters": int(fl["cluster"].nunique()),
                     "top_comp_share": round(float(cand["comp"].value_counts(normalize=True).iloc[0]), 2) if len(cand) else 0,
                     **{c: round(float(g[c].mean()), 2) for c in ("s", "e_extract", "e_rotation", "e_volume", "e_wave")},
                     "hit_share": round(float((g["n_hit"] / g["n_seen"].clip(lower=1)).mean()), 3),
                     "req": round(float(g["n_req"].median()), 1)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=300_000)
    ap.add_argument("--presets", nargs="+", default=["default", "all_four"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[301, 302, 303])
    ap.add_argument("--work", default="/tmp/det")
    ap.add_argument("--tag", default="scan")
    ap.add_argument("--meta", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--set", nargs="*", default=[], help="knob overrides passed to simulate (wider dev knobs)")
    ap.add_argument("--name", default="", help="suffix of the simulation folders made with --set")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from distill.detect.metrics import score

    work = Path(args.work)
    summary = []
    for preset in args.presets:
        for seed in args.seeds:
            sim = simulate(args.records, preset, seed, work, tuple(args.set), args.name)
            out = work / f"{args.tag}_{preset}{args.name}_{args.records}_{seed}"
            wall = scan(sim, out, args.meta)
            s = score(out, sim)
            row = {"preset": preset, "seed": seed, "wall": round(wall, 1),
                   **{k: round(s[k], 3) for k in ("precision", "recall", "operator_ari", "decoy_fpr")},
                   "campaign": s["campaign_accounts"], "fp": s["false_positives"]}
            summary.append(row)
            print(json.dumps(row), flush=True)
            if not args.quiet and s["campaign_accounts"]:
                for r in diagnose(out, sim):
                    print("   ", json.dumps(r), flush=True)
    import pandas as pd

    t = pd.DataFrame(summary)
    print(t.groupby("preset")[["precision", "recall", "operator_ari", "decoy_fpr", "wall"]].agg(["mean", "std", "min"])
          .round(3).to_string())


if __name__ == "__main__":
    main()
