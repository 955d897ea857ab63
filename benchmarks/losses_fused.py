"""Benchmark: the fused linear JSD (from hidden states) against today's chunked loss on logits and Liger's.

Forward + backward of the generalized JSD (β = 0.5, T = 1) of a student against a teacher, both given as
last hidden states (B·L × H) and output weights (V × H), fp32 on CPU with a fixed number of threads:

  * ``fused``: ``distill.losses.fused_linear_loss("jsd", LinearLogits(h, W), LinearLogits(h_t, W_t))``:
    logits made chunk by chunk, gradients for h and W accumulated per chunk; no B·L × V tensor.
  * ``chunked``: today's path: ``z = h @ W.T``, ``z_t = h_t @ W_t.T`` (no grad), then
    ``distill.losses.generalized_jsd(z, z_t)`` (chunked, analytic gradient), backward through the product.
  * ``liger``: Liger's torch ``LigerFusedLinearJSDLoss(compiled=False)`` with ``weight_hard_loss=0``,
    ``weight_soft_loss=1`` (the same objective: its default adds 0.5 × hard-label CE), its default chunk of
    1,024 rows. It is pure torch (``liger_kernel.chunked_loss``), so it runs on CPU: ``pip install
    liger-kernel --no-deps`` (its Triton dependency is not needed for this class).

Each implementation runs in its own process; "extra peak memory" is the process's peak resident set
during forward + backward minus its resident size just before (inputs h, W, h_t, W_t allocated), read
from /proc/self/status after resetting the peak with /proc/self/clear_refs. The gradients for h and W
(W's is V × H floats, 0.105 GiB at the default shape) are part of every implementation's extra memory.
Wall seconds and CPU seconds (the process's, which a shared machine's neighbours do not inflate) are both
reported; ratios use the medians. A last process checks that the three agree (values and gradients).

    python benchmarks/losses_fused.py                      # 4 × 512 × 49,152, H = 576: results/losses_fused.json
    python benchmarks/losses_fused.py --shape 2 64 4096 --hidden 64   # a quick look
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

RESULTS = Path(__file__).parent / "results" / "losses_fused.json"
IMPLS = ("fused", "chunked", "liger")


sys.path.insert(0, str(Path(__file__).resolve().parent))
from losses import _reset_peak, _status_kb  # noqa: E402  the loss benchmark's peak-memory probes


def _inputs(shape, hidden: int, seed=0):
    """h (N, H), W (V, H) with gradients; h_t, W_t (teacher, H + 64) without. Scaled so that the logits
    have a spread like a trained LM's (std ≈ 2 for the student, 3 for the teacher)."""
    import torch

    B, L, V = shape
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(B * L, hidden, generator=g).requires_grad_()
    w = (torch.randn(V, hidden, generator=g) * (2.0 / hidden**0.5)).requires_grad_()
    ht = torch.randn(B * L, hidden + 64, generator=g)
    wt = torch.randn(V, hidden + 64, generator=g) * (3.0 / (hidden + 64) ** 0.5)
    labels = torch.zeros(B * L, dtype=torch.long)  # every position counts (liger's mask)
    return h, w, ht, wt, labels


def _loss_fn(impl: str, beta: float):
    if impl == "fused":
        from distill.losses import LinearLogits, fused_linear_loss

        return lambda h, w, ht, wt, y: fused_linear_loss("jsd", LinearLogits(h, w), LinearLogits(ht, wt),
                                                         beta=beta).loss
    if impl == "chunked":
        import torch

        from distill.losses import generalized_jsd

        def chunked(h, w, ht, wt, y):
            with torch.no_grad():
                zt = ht @ wt.T  # (N, V): the teacher's logits, as a live teacher's forward returns them
            return generalized_jsd(h @ w.T, zt, beta=beta)

        return chunked
    if impl == "liger":
        from liger_kernel.chunked_loss import LigerFusedLinearJSDLoss

        fn = LigerFusedLinearJSDLoss(weight_hard_loss=0.0, weight_soft_loss=1.0, beta=beta, compiled=False)
        return lambda h, w, ht, wt, y: fn(h, w, ht, wt, y)
    raise ValueError(impl)


def worker(impl: str, shape, hidden: int, beta: float, reps: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    fn = _loss_fn(impl, beta)
    h, w, ht, wt, y = _inputs(shape, hidden)
    times, cpu, peaks = [], [], []
    for _ in range(reps):
        h.grad = w.grad = None
        base = _status_kb("VmRSS")
        _reset_peak()
        t0, c0 = time.perf_counter(), time.process_time()
        loss = fn(h, w, ht, wt, y)
        loss.backward()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        peaks.append((_status_kb("VmHWM") - base) / 1024**2)  # GiB
        del loss
    return {"impl": impl, "seconds": times, "cpu_seconds": cpu, "median_seconds": statistics.median(times),
            "median_cpu_seconds": statistics.median(cpu), "extra_peak_gib": max(peaks)}


def agreement(shape, hidden: int, beta: float, threads: int, impls) -> dict:
    import torch

    torch.set_num_threads(threads)
    h, w, ht, wt, y = _inputs(shape, hidden)
    out = {}
    for impl in impls:
        h.grad = w.grad = None
        loss = _loss_fn(impl, beta)(h, w, ht, wt, y)
        loss.backward()
        out[impl] = (loss.detach().double(), h.grad.double(), w.grad.double())
    ref = out["chunked"]
    res = {}
    for impl in impls:
        if impl == "chunked":
            continue
        lo, gh, gw = out[impl]
        res[impl] = {"loss": lo.item(), "loss_chunked": ref[0].item(),
                     "loss_rel_diff": abs(lo.item() - ref[0].item()) / abs(ref[0].item()),
                     "grad_hidden_rel_diff_norm": ((gh - ref[1]).norm() / ref[1].norm()).item(),
                     "grad_weight_rel_diff_norm": ((gw - ref[2]).norm() / ref[2].norm()).item()}
    return res


def _spawn(args: list[str]) -> dict:
    cmd = [sys.executable, __file__, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _liger_available() -> bool:
    try:
        import liger_kernel.chunked_loss  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", type=int, nargs=3, default=[4, 512, 49152], metavar=("B", "L", "V"))
    ap.add_argument("--hidden", type=int, default=576, help="student hidden size H (SmolLM2-135M: 576)")
    ap.add_argument("--beta", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--worker", choices=[*IMPLS, "agreement"], help=argparse.SUPPRESS)
    ap.add_argument("--impls", nargs="*", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    shape = tuple(args.shape)
    if args.worker == "agreement":
        print(json.dumps(agreement(shape, args.hidden, args.beta, args.threads, args.impls)))
        return
    if args.worker:
        print(json.dumps(worker(args.worker, shape, args.hidden, args.beta, args.reps, args.threads)))
        return

    impls = [i for i in IMPLS if i != "liger" or _liger_available()]
    common = ["--shape", *map(str, shape), "--hidden", str(args.hidden), "--beta", str(args.beta),
              "--threads", str(args.threads), "--reps", str(args.reps)]
    runs = {}
    for impl in impls:
        print(f"[losses_fused] timing {impl} on {shape}, H = {args.hidden} ...", flush=True)
        runs[impl] = _spawn([*common, "--worker", impl])
        r = runs[impl]
        print(f"[losses_fused]   {r['median_seconds']:.2f} s wall, {r['median_cpu_seconds']:.2f} s CPU, "
              f"extra peak {r['extra_peak_gib']:.3f} GiB", flush=True)
    print("[losses_fused] checking agreement ...", flush=True)
    agree = _spawn([*common, "--worker", "agreement", "--impls", *impls])
    fused = runs["fused"]

    def ratios(other: str) -> dict:
        o = runs[other]
        return {"extra_peak_memory": fused["extra_peak_gib"] / o["extra_peak_gib"],
                "time_wall": fused["median_seconds"] / o["median_seconds"],
                "time_cpu": fused["median_cpu_seconds"] / o["median_cpu_seconds"]}

    result = {
        "benchmark": "fused linear generalized JSD forward+backward vs distill's chunked loss on logits and "
                     "Liger's torch LigerFusedLinearJSDLoss (compiled=False, weight_hard_loss=0)",
        "shape": list(shape), "hidden": args.hidden, "teacher_hidden": args.hidden + 64, "dtype": "float32",
        "beta": args.beta, "threads": args.threads, "reps": args.reps,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_1min": os.getloadavg()[0]},
        "runs": runs,
        "fused_vs": {other: ratios(other) for other in impls if other != "fused"},
        "agreement": agree,
        "targets": {"vs_chunked": {"extra_peak_memory_max": 0.25, "time_max": 1.2},
                    "vs_liger": {"extra_peak_memory_max": 1.0, "time_max": 1.0}},
    }
    vs = result["fused_vs"]
    result["targets_met"] = {"chunked_memory": vs["chunked"]["extra_peak_memory"] <= 0.25,
                             "chunked_time_cpu": vs["chunked"]["time_cpu"] <= 1.2}
    if "liger" in vs:
        result["targets_met"] |= {"liger_memory": vs["liger"]["extra_peak_memory"] < 1.0,
                                  "liger_time_cpu": vs["liger"]["time_cpu"] < 1.0}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    lines = ["| implementation | wall s (median) | CPU s (median) | extra peak memory (GiB) |", "|---|---|---|---|"]
    lines += [f"| {i} | {r['median_seconds']:.2f} | {r['median_cpu_seconds']:.2f} | {r['extra_peak_gib']:.3f} |"
              for i, r in runs.items()]
    lines.append("")
    for other, r in vs.items():
        lines.append(f"fused / {other}: memory {r['extra_peak_memory']:.3f}×, time {r['time_cpu']:.2f}× CPU "
                     f"({r['time_wall']:.2f}× wall)")
    for impl, a in agree.items():
        lines.append(f"{impl} vs chunked: loss rel diff {a['loss_rel_diff']:.1e}, grad h {a['grad_hidden_rel_diff_norm']:.1e}, "
                     f"grad W {a['grad_weight_rel_diff_norm']:.1e}")
    text = "\n".join(lines)
    args.out.with_suffix(".md").write_text(f"# {result['benchmark']}\n\nshape {shape}, H = {args.hidden}, "
                                           f"{args.threads} threads\n\n{text}\n")
    print("\n" + text + f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
