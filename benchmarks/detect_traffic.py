"""Benchmark of `distill detect traffic` on generated scenarios: detection quality and scale.

For each run (records, preset, range set, seed, with or without account metadata): generate the
logs with `distill detect simulate` (the scenario generator, written apart from the detector; its
held-out knob ranges were never looked at while the detector was developed), run the scan in a
child process (wall time, peak RSS of the child), score against truth.csv and kinds.csv. Writes
benchmarks/results/detect_traffic.json and .md. Targets (issue 12): default mix precision ≥ 0.99,
recall ≥ 0.90, operator ARI ≥ 0.90, decoy FPR ≤ 1%; careful (all four evasions) recall ≥ 0.60 at
precision ≥ 0.95; no campaign decoy FPR ≤ 1%; 16M records ≤ 15 min, ≤ 8 GB RAM.

    nice -n 19 python benchmarks/detect_traffic.py                       # the held-out table (README)
    nice -n 19 python benchmarks/detect_traffic.py --runs 16000000:default:heldout:1   # scale
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
TARGETS = {"default": {"precision": 0.99, "recall": 0.90, "operator_ari": 0.9, "decoy_fpr": 0.01},
           "all_four": {"precision": 0.95, "recall": 0.60}, "no_campaign": {"decoy_fpr": 0.01}}
PRESETS = ("default", "careful", "low_and_slow", "filler", "paraphrase", "all_four", "no_campaign", "random")
# the targets' scenarios first, then the single evasions, then a second seed
DEFAULT_RUNS = [f"1000000:{p}:heldout:101" for p in ("default", "all_four", "no_campaign", "careful")] + [
    "1000000:all_four:heldout:101:meta"] + [f"1000000:{p}:heldout:101" for p in (
        "low_and_slow", "filler", "paraphrase", "random")] + [
    f"1000000:{p}:heldout:102" for p in ("default", "all_four", "no_campaign", "careful")] + [
    "1000000:all_four:heldout:102:meta"]


def one(spec: str, work: Path, memory_limit: str, reuse: bool = False) -> dict:
    from distill.detect.metrics import score

    parts = spec.split(":")
    records, preset, ranges, seed = int(parts[0]), parts[1], parts[2], int(parts[3])
    meta = len(parts) > 4 and parts[4] == "meta"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    sim = work / f"sim_{preset}_{ranges}_{records}_{seed}"
    if not (sim / "kinds.csv").exists():
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "distill", "detect", "simulate", "--records", str(records), "--seed",
                        str(seed), "--preset", preset, "--ranges", ranges, "--out", str(sim)], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"simulated {records:,} ({preset}, {ranges}, seed {seed}) in {time.perf_counter() - t:.0f} s", flush=True)
    out = work / f"scan_{preset}_{ranges}_{records}_{seed}{'_meta' if meta else ''}"
    cmd = [sys.executable, "-m", "distill", "detect", "traffic", str(sim / "logs"), "--out", str(out),
           "--memory-limit", memory_limit, "--relays", str(sim / "privacy_relays.txt"), "--json"]
    if meta:
        cmd += ["--accounts-meta", str(sim / "accounts_meta.parquet")]
    if reuse and (out / "results.json").exists():
        summary = json.loads((out / "results.json").read_text())
        wall, peak = summary["seconds"], None
    else:
        t = time.perf_counter()
        child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own resource usage
        wall, peak = time.perf_counter() - t, round(usage.ru_maxrss / 2**20, 2)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"scan of {sim} failed")
        summary = json.loads((out / "results.json").read_text())
    res = {"records": records, "preset": preset, "ranges": ranges, "seed": seed, "metadata": meta,
           "wall_s": round(wall, 1), "peak_rss_gb": peak,
           "stage_seconds": summary["stage_seconds"], "accounts": summary["accounts"],
           "shift_windows_tested": summary.get("shift", {}).get("windows_tested"),
           "shift_windows_shifted": summary.get("shift", {}).get("windows_shifted"),
           "load_avg_after": os.getloadavg()} | score(out, sim)
    print(json.dumps({k: v for k, v in res.items() if not isinstance(v, dict)}), flush=True)
    return res


def _mean_sd(xs) -> str:
    import numpy as np

    xs = [x for x in xs if x is not None]
    if not xs:
        return "–"
    return f"{np.mean(xs):.2f} ± {np.std(xs):.2f}" if len(xs) > 1 else f"{xs[0]:.2f}"


def markdown(rows: list[dict]) -> str:
    """One line per (records, preset, ranges, metadata): mean ± sd over the seeds."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["records"], r["preset"], r["ranges"], r["metadata"]), []).append(r)
    head = ("| records | preset | ranges | metadata | seeds | precision | recall | operator ARI | decoy FPR | "
            "recall per operator kind | wall (s) | peak RSS (GB) |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for (n, preset, ranges, meta), g in groups.items():
        camp = [r for r in g if r["campaign_accounts"]]
        kinds: dict[str, list[float]] = {}
        for r in camp:
            for k, v in r.get("recall_by_operator_kind", {}).items():
                kinds.setdefault(k, []).append(v)
        per_kind = ", ".join(f"{k} {sum(v) / len(v):.2f}" for k, v in sorted(kinds.items())) or "–"
        lines.append(f"| {n:,} | {preset} | {ranges} | {'yes' if meta else 'no'} | {len(g)} | "
                     f"{_mean_sd([r['precision'] for r in camp if r['true_positives'] + r['false_positives']])} | "
                     f"{_mean_sd([r['recall'] for r in camp])} | {_mean_sd([r['operator_ari'] for r in camp])} | "
                     f"{_mean_sd([r['decoy_fpr'] for r in g])} | {per_kind} | {_mean_sd([r['wall_s'] for r in g])} | "
                     f"{max((r['peak_rss_gb'] for r in g if r['peak_rss_gb']), default='–')} |\n")
    return head + "".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", nargs="+", default=DEFAULT_RUNS, help="records:preset:ranges:seed[:meta]")
    ap.add_argument("--work", default="/tmp/distill-detect-bench")
    ap.add_argument("--memory-limit", default="4GB")
    ap.add_argument("--reuse", action="store_true", help="score a finished scan in --work again instead of rerunning it")
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "detect_traffic"))
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    rows = []
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    for spec in args.runs:  # results rewritten after every run: a long benchmark stopped early keeps them
        rows.append(one(spec, Path(args.work), args.memory_limit, args.reuse))
        res = {"targets": TARGETS, "cpu_count": os.cpu_count(), "runs": rows,
               "note": "2-core machine shared with other sessions; load average recorded per run."}
        for path, text in ((args.results + ".json", json.dumps(res, indent=2)), (args.results + ".md", markdown(rows))):
            Path(path + ".tmp").write_text(text)
            os.replace(path + ".tmp", path)
    print(markdown(rows))


if __name__ == "__main__":
    main()
