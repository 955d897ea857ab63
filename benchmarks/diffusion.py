"""Benchmark: distilled diffusion by block removal (BK-SDM) on Fashion-MNIST, quick mode.

Runs `distill experiment diffusion --quick` (resumable: rerunning continues from the checkpoints under
its output folder), prints its table and copies results.json, results.md, the FD plot and the sample
grids to benchmarks/results/diffusion.{json,md,png} and benchmarks/results/diffusion_samples_*.png.

    OMP_NUM_THREADS=1 python benchmarks/diffusion.py              # quick mode, seed 0
    OMP_NUM_THREADS=1 python benchmarks/diffusion.py --seeds 0 1 2  # one quick run per seed, for spread
    python benchmarks/diffusion.py --seeds 0 1 --collect              # only collect finished runs
    OMP_NUM_THREADS=1 python benchmarks/diffusion.py --latency 7      # also: teacher and student timed in turn
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


def interleaved_latency(rounds: int) -> dict:
    """Sampling latency of the quick teacher and student architectures, timed in turn (random weights:
    latency depends on the architecture alone), so that load on a shared machine hits both alike."""
    import time

    import torch

    from distill.experiments import diffusion as dif

    cfg = dif.DiffusionConfig(quick=True).resolved()
    teacher = dif.build_unet(cfg.image_size, cfg.channels, cfg.layers_per_block, True, 10, 0)
    student, _ = dif.remove_blocks(teacher, cfg.student_layers, cfg.student_mid_block)
    nets = {"teacher": teacher, "student": student}
    out = {"threads": torch.get_num_threads(), "ddim_steps": cfg.ddim_steps, "rounds": rounds, "batches": {}}
    for b in (1, 64):
        labels = torch.arange(b) % 10
        times = {k: [] for k in nets}
        for r in range(rounds + 1):  # round 0 warms up
            for name, net in nets.items():
                t0 = time.perf_counter()
                dif.sample(net, labels, steps=cfg.ddim_steps, train_timesteps=cfg.train_timesteps, seed=r,
                           batch_size=b, show=False)
                if r:
                    times[name].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) for k, v in times.items()}
        out["batches"][b] = {"teacher": med["teacher"], "student": med["student"],
                             "speedup": med["teacher"] / med["student"]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--collect", action="store_true", help="do not run: collect the finished runs' results")
    ap.add_argument("--latency", type=int, default=0,
                    help="also time the quick teacher and student architectures in turn, N rounds (median)")
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
    if args.latency:
        res["latency_interleaved"] = interleaved_latency(args.latency)
        lat = res["latency_interleaved"]
        md += (f"\nLatency, teacher and student timed in turn ({args.latency} rounds, median, "
               f"{lat['threads']} thread(s), DDIM {lat['ddim_steps']} steps): "
               + "; ".join(f"batch {b}: teacher {v['teacher']:.3f} s, student {v['student']:.3f} s, "
                           f"{v['speedup']:.2f}×" for b, v in lat["batches"].items()) + "\n")
        (RESULTS / "diffusion.json").write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n")
    (RESULTS / "diffusion.md").write_text(md)
    shutil.copy(first / "fd.png", RESULTS / "diffusion.png")
    for png in sorted((first / f"seed{args.seeds[0]}").glob("samples_*.png")):
        shutil.copy(png, RESULTS / f"diffusion_{png.name}")
    print((first / "results.md").read_text())


if __name__ == "__main__":
    main()
