"""Benchmark of `distill detect traffic` on simulated logs: detection quality and scale.

For each (records, scenario, seed): simulate the logs (unless already there), run the scan in a
child process (wall time, peak RSS of the child), score against truth.csv. Writes
benchmarks/results/detect_traffic.json and .md. Targets (issue 7): precision ≥ 0.99, recall ≥ 0.90,
operator ARI ≥ 0.9, decoy FPR ≤ 1%; 16M records ≤ 15 min, ≤ 8 GB RAM; linear time 1M → 16M.

    nice -n 19 python benchmarks/detect_traffic.py --runs 1000000:a:1 1000000:b:2 4000000:a:3 16000000:a:4
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
TARGETS = {"precision": 0.99, "recall": 0.90, "operator_ari": 0.9, "decoy_fpr": 0.01}


def one(records: int, scenario: str, seed: int, work: Path, memory_limit: str) -> dict:
    from distill.detect.metrics import score
    from distill.detect.simulate import SimulateConfig
    from distill.detect.simulate import run as simulate

    sim = work / f"sim_{scenario}_{records}"
    if not (sim / "truth.csv").exists():
        t = time.perf_counter()
        simulate(SimulateConfig(records=records, scenario=scenario, seed=seed, out=str(sim)))
        print(f"simulated {records:,} in {time.perf_counter() - t:.0f} s", flush=True)
    out = work / f"scan_{scenario}_{records}"
    t = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    child = subprocess.Popen([sys.executable, "-m", "distill", "detect", "traffic", str(sim / "logs"), "--out",
                              str(out), "--memory-limit", memory_limit, "--json"], env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)  # this child's own resource usage
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"scan of {sim} failed")
    peak = usage.ru_maxrss  # KiB (Linux): peak resident memory of the scan process
    summary = json.loads((out / "summary.json").read_text())
    res = {"records": records, "scenario": scenario, "seed": seed, "wall_s": round(wall, 1),
           "peak_rss_gb": round(peak / 2**20, 2),
           "stage_seconds": summary["stage_seconds"], "accounts": summary["accounts"],
           "load_avg_after": os.getloadavg()} | score(out, sim)
    print(json.dumps(res), flush=True)
    return res


def markdown(rows: list[dict]) -> str:
    head = ("| records | scenario | wall (s) | peak RSS (GB) | precision | recall | operator ARI | decoy FPR | "
            "campaign accounts | flagged clusters / operators | load avg (1 min) |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
    return head + "".join(
        f"| {r['records']:,} | {r['scenario']} | {r['wall_s']} | {r['peak_rss_gb']} | {r['precision']:.4f} | "
        f"{r['recall']:.4f} | {r['operator_ari']:.4f} | {r['decoy_fpr']:.4f} | {r['campaign_accounts']:,} | "
        f"{r['clusters_flagged']} / {r['operators']} | {r['load_avg_after'][0]:.1f} |\n" for r in rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", nargs="+", default=["1000000:a:1", "1000000:b:2", "4000000:a:3"],
                    help="records:scenario:seed")
    ap.add_argument("--work", default="/tmp/distill-detect-bench")
    ap.add_argument("--memory-limit", default="4GB")
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "detect_traffic"))
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    rows = []
    for spec in args.runs:
        n, sc, seed = spec.split(":")
        rows.append(one(int(n), sc, int(seed), Path(args.work), args.memory_limit))
    res = {"targets": TARGETS, "cpu_count": os.cpu_count(), "runs": rows,
           "note": "2-core machine shared with other sessions; run under nice -n 19; load average recorded per run."}
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results + ".json").write_text(json.dumps(res, indent=2))
    Path(args.results + ".md").write_text(markdown(rows))
    print(markdown(rows))


if __name__ == "__main__":
    main()
