"""Benchmark: distill's generalized JSD against TRL's GKDTrainer.generalized_jsd_loss.

Forward + backward of the loss on student/teacher logits of shape B × L × V (default
4 × 512 × 49,152, SmolLM2's vocabulary), fp32, on CPU with a fixed number of threads.
Each implementation runs in its own process, so that peak-memory readings do not mix:
"extra peak memory" is the process's peak resident set size during forward + backward
minus its resident size just before (inputs already allocated), read from
/proc/self/status after resetting the peak with /proc/self/clear_refs. The student's
gradient (B × L × V floats) is part of every implementation's extra memory.

A third process computes both losses on the same inputs and reports how well the loss
values and gradients agree.

    python benchmarks/losses.py                    # full shape, writes benchmarks/results/losses.json
                                                   # (distill measured as called by default: no chunk_size)
    python benchmarks/losses.py --shape 2 64 4096  # a quick look

TRL is a benchmark-only dependency: ``pip install trl``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "losses.json"


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def _inputs(shape, seed=0):
    import torch

    g = torch.Generator().manual_seed(seed)
    student = torch.randn(*shape, generator=g)
    teacher = torch.randn(*shape, generator=g) * 2.0
    labels = torch.zeros(shape[:-1], dtype=torch.long)  # every position counts
    return student.requires_grad_(), teacher, labels


def _chunk_arg(chunk_size: str):
    """--chunk-size as passed to distill: 'default' (the call without chunk_size, what users get),
    'auto', 'none' (one pass) or an int."""
    if chunk_size == "default":
        return {}
    if chunk_size in ("auto", "none"):
        return {"chunk_size": None if chunk_size == "none" else "auto"}
    return {"chunk_size": int(chunk_size)}


def _loss_fn(impl: str, beta: float, chunk_size: str):
    if impl == "distill":
        from distill.losses import generalized_jsd

        kw = _chunk_arg(chunk_size)
        return lambda s, t, y: generalized_jsd(s, t, beta=beta, labels=y, **kw)
    if impl == "trl":
        os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
        from trl.experimental.gkd import GKDTrainer

        return lambda s, t, y: GKDTrainer.generalized_jsd_loss(s, t, labels=y, beta=beta)
    if impl == "plain_kl":
        import torch.nn.functional as F

        def plain(s, t, y):  # forward KL with F.kl_div, the cheapest dense reference
            return F.kl_div(s.log_softmax(-1), t.log_softmax(-1), log_target=True, reduction="sum") / y.numel()

        return plain
    raise ValueError(impl)


def worker(impl: str, shape, beta: float, chunk_size: str, reps: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    fn = _loss_fn(impl, beta, chunk_size)
    s, t, y = _inputs(shape)
    times, peaks = [], []
    for _ in range(reps):
        s.grad = None
        base = _status_kb("VmRSS")
        _reset_peak()
        t0 = time.perf_counter()
        loss = fn(s, t, y)
        loss.backward()
        times.append(time.perf_counter() - t0)
        peaks.append((_status_kb("VmHWM") - base) / 1024**2)  # GiB
        del loss
    return {"impl": impl, "seconds": times, "median_seconds": statistics.median(times),
            "extra_peak_gib": max(peaks)}


def agreement(shape, beta: float, chunk_size: str, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    s, t, y = _inputs(shape)
    out = {}
    for impl in ("distill", "trl"):
        s.grad = None
        loss = _loss_fn(impl, beta, chunk_size)(s, t, y)
        loss.backward()
        out[impl] = (loss.detach().double(), s.grad.double())
    (l_ours, g_ours), (l_trl, g_trl) = out["distill"], out["trl"]
    return {
        "loss_distill": l_ours.item(),
        "loss_trl": l_trl.item(),
        "loss_rel_diff": abs(l_ours.item() - l_trl.item()) / abs(l_trl.item()),
        "grad_rel_diff_norm": ((g_ours - g_trl).norm() / g_trl.norm()).item(),
        "grad_max_abs_diff_over_max_abs": ((g_ours - g_trl).abs().max() / g_trl.abs().max()).item(),
    }


def _auto_chunk(shape) -> int | None:
    from distill.losses import auto_chunk_size

    return auto_chunk_size(shape[-1], shape[0] * shape[1])


def _spawn(args: list[str]) -> dict:
    cmd = [sys.executable, __file__, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", type=int, nargs=3, default=[4, 512, 49152], metavar=("B", "L", "V"))
    ap.add_argument("--beta", type=float, default=0.5)
    ap.add_argument("--chunk-size", default="default",
                    help="distill's chunk_size: 'default' (the call without it, as users make it; the "
                         "default is 'auto'), 'auto', 'none' (one pass) or a number of positions")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3, help="timed repetitions for distill (TRL: 2)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--worker", choices=["distill", "trl", "plain_kl", "agreement"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    shape = tuple(args.shape)

    if args.worker == "agreement":
        print(json.dumps(agreement(shape, args.beta, args.chunk_size, args.threads)))
        return
    if args.worker:
        reps = args.reps if args.worker != "trl" else min(args.reps, 2)
        print(json.dumps(worker(args.worker, shape, args.beta, args.chunk_size, reps, args.threads)))
        return

    common = ["--shape", *map(str, shape), "--beta", str(args.beta), "--chunk-size", str(args.chunk_size),
              "--threads", str(args.threads), "--reps", str(args.reps)]
    runs = {}
    for impl in ("distill", "trl", "plain_kl"):
        print(f"[losses] timing {impl} on {shape} ...", flush=True)
        runs[impl] = _spawn([*common, "--worker", impl])
        print(f"[losses]   {runs[impl]['median_seconds']:.2f} s, extra peak {runs[impl]['extra_peak_gib']:.2f} GiB",
              flush=True)
    print("[losses] checking agreement ...", flush=True)
    agree = _spawn([*common, "--worker", "agreement"])
    ours, trl = runs["distill"], runs["trl"]
    result = {
        "benchmark": "generalized_jsd forward+backward vs TRL GKDTrainer.generalized_jsd_loss",
        "shape": list(shape),
        "dtype": "float32",
        "beta": args.beta,
        "chunk_size": args.chunk_size,
        "auto_chunk_size": _auto_chunk(shape),
        "threads": args.threads,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "runs": runs,
        "time_ratio": ours["median_seconds"] / trl["median_seconds"],
        "extra_peak_memory_ratio": ours["extra_peak_gib"] / trl["extra_peak_gib"],
        "agreement": agree,
        "targets": {"time_ratio_max": 0.1, "extra_peak_memory_ratio_max": 0.15, "rel_diff_max": 1e-5},
    }
    result["targets_met"] = {
        "time": result["time_ratio"] <= 0.1,
        "memory": result["extra_peak_memory_ratio"] <= 0.15,
        "agreement": agree["loss_rel_diff"] <= 1e-5 and agree["grad_rel_diff_norm"] <= 1e-5,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print("| implementation | seconds (median) | extra peak memory (GiB) |")
    print("|---|---|---|")
    for impl, r in runs.items():
        print(f"| {impl} | {r['median_seconds']:.2f} | {r['extra_peak_gib']:.2f} |")
    print(f"\ntime ratio distill/TRL: {result['time_ratio']:.3f} (target <= 0.1)")
    print(f"extra peak memory ratio: {result['extra_peak_memory_ratio']:.3f} (target <= 0.15)")
    print(f"loss rel diff {agree['loss_rel_diff']:.2e}, grad rel diff (norm) {agree['grad_rel_diff_norm']:.2e}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
