"""Benchmark: distilled diffusion by block removal (BK-SDM) on Fashion-MNIST, quick mode.

Runs `distill experiment diffusion --quick` (resumable: rerunning continues from the checkpoints under
its output folder), prints its table and copies results.json, results.md, the FD plot and the sample
grids to benchmarks/results/diffusion.{json,md,png} and benchmarks/results/diffusion_samples_*.png.

    OMP_NUM_THREADS=1 python benchmarks/diffusion.py              # quick mode, seed 0
    OMP_NUM_THREADS=1 python benchmarks/diffusion.py --seeds 0 1 2  # one quick run per seed, for spread
    python benchmarks/diffusion.py --seeds 0 1 --collect              # only collect finished runs
"""

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--collect", action="store_true", help="do not run: collect the finished runs' results")
    args = ap.parse_args()
    runs = []
    for seed in args.seeds:  # quick mode runs one seed, so each seed is its own run
        out = ROOT / "runs" / f"diffusion-quick{'' if seed == 0 else f'-seed{seed}'}"
        if not args.collect:
            subprocess.run([sys.executable, "-m", "distill", "experiment", "diffusion", "--quick", "--seeds", str(seed),
                            "--out", str(out), "-v"], check=True)
        runs.append(out)
    RESULTS.mkdir(exist_ok=True)
    first = runs[0]
    res = json.loads((first / "results.json").read_text())
    if len(runs) > 1:  # the spread over the per-seed runs
        per = [json.loads((r / "results.json").read_text()) for r in runs]
        res["spread"] = {name: {k: {"mean": statistics.fmean(p["models"][name][k] for p in per),
                                    "std": statistics.stdev(p["models"][name][k] for p in per)}
                                for k in ("fd_teacher", "fd_real", "accuracy", "pixel_rmse_teacher")}
                         for name in res["models"]}
        res["spread_seeds"] = args.seeds
    (RESULTS / "diffusion.json").write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n")
    md = (first / "results.md").read_text()
    if "spread" in res:
        keys = ("fd_teacher", "fd_real", "accuracy", "pixel_rmse_teacher")
        md += (f"\nSpread over seeds {', '.join(map(str, args.seeds))} (one quick run each; mean ± sd):\n\n"
               "| model | FD → teacher | FD → real test | CNN accuracy | pixel RMSE vs teacher |\n|---|---|---|---|---|\n")
        for name, sp in res["spread"].items():
            md += f"| {name} | " + " | ".join(f"{sp[k]['mean']:.3f} ± {sp[k]['std']:.3f}" for k in keys) + " |\n"
    (RESULTS / "diffusion.md").write_text(md)
    shutil.copy(first / "fd.png", RESULTS / "diffusion.png")
    for png in sorted((first / f"seed{args.seeds[0]}").glob("samples_*.png")):
        shutil.copy(png, RESULTS / f"diffusion_{png.name}")
    print((first / "results.md").read_text())


if __name__ == "__main__":
    main()
