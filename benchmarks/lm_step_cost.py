"""Benchmark: what does distillation from stored targets add to a training step?

One process, one student (cut from the embedded SmolLM2-135M-Instruct), one batch size; the
step variants are interleaved round-robin (so that load on a shared machine hits each alike):
  * ce       cross-entropy on the text only (the baseline);
  * topk     forward KL against a top-64 store (compact encoding);
  * sampled  forward KL against a Sparse Logit Sampling store (64 draws).
A step is `distill lm train`'s own micro-step (read targets, student forward, loss) plus
backward and an AdamW update. Reading a store decodes a shard once and keeps it (as training
does); that one-off cost per shard is reported separately, per window. Steps are timed in CPU
seconds of this process (run it with OMP_NUM_THREADS=1): on a shared machine wall-clock time
mostly measures the neighbours; wall seconds are reported too. Target (issue 3):
a KD step on stored targets costs ≤ 10% more than a CE-only step.

    nice -n 19 python benchmarks/lm_step_cost.py [--layers 15] [--batch-size 2] [--window 128] [--reps 6]
"""

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    from accelerate import Accelerator

    from distill.lm.capture import CaptureConfig, capture
    from distill.lm.corpus import pack_windows
    from distill.lm.models import load_model, load_tokenizer, resolve
    from distill.lm.quickstart import pydoc_corpus
    from distill.lm.student import build_student
    from distill.lm.train import LMTrainConfig, _micro_step
    from distill.targets.store import TargetStore

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", default="smollm2")
    ap.add_argument("--layers", default="15")
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--window", type=int, default=128)
    ap.add_argument("--reps", type=int, default=6)
    args = ap.parse_args()
    torch.manual_seed(0)
    tmp = Path(tempfile.mkdtemp())
    train_txt, _ = pydoc_corpus(tmp / "corpus")
    teacher = resolve(args.teacher)
    build_student(teacher, args.layers, tmp / "student")
    n = args.batch_size * (args.reps + 1)
    decode = {}
    for kind in ("topk", "sampled"):
        capture(CaptureConfig(teacher=teacher, data=str(train_txt), targets_kind=kind, top_k=64, samples=64,
                              window=args.window, max_windows=n, shard_windows=n, out=str(tmp / kind)))
        t0 = time.perf_counter()
        TargetStore(tmp / kind)[0]  # checksum + decode of the one shard
        decode[kind] = (time.perf_counter() - t0) / n
    stores = {k: TargetStore(tmp / k) for k in ("topk", "sampled")}
    for s in stores.values():
        s[0]
    windows = pack_windows(train_txt, load_tokenizer(str(tmp / "student")), args.window, n)
    acc = Accelerator()
    student = load_model(str(tmp / "student"))
    student.train()
    opt = torch.optim.AdamW(student.parameters(), lr=1e-5)
    V = stores["topk"].manifest.vocab_size
    base = dict(student=str(tmp / "student"), data=str(train_txt), window=args.window, batch_size=args.batch_size,
                tensorboard=False)
    cfgs = {"ce": LMTrainConfig(loss="ce", **base), "topk": LMTrainConfig(loss="forward_kl", **base),
            "sampled": LMTrainConfig(loss="forward_kl", **base)}
    times = {k: [] for k in cfgs}  # CPU seconds of the process (the work, whatever the neighbours do)
    walls = {k: [] for k in cfgs}
    for rep in range(args.reps + 1):  # rep 0 warms up every variant
        rows = torch.arange(rep * args.batch_size, (rep + 1) * args.batch_size) % n
        for name, cfg in cfgs.items():
            t0, c0 = time.perf_counter(), time.process_time()
            loss, _ = _micro_step(cfg, acc, student, None, stores.get(name), windows, rows, V, False)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if rep:
                times[name].append(time.process_time() - c0)
                walls[name].append(time.perf_counter() - t0)
        print(f"rep {rep}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items() if v), flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "teacher": teacher, "student_layers": args.layers,
        "student_parameters": sum(p.numel() for p in student.parameters()),
        "batch": f"{args.batch_size} × {args.window} tokens", "reps": args.reps, "threads": torch.get_num_threads(),
        "cpu_seconds_per_step": {k: {"median": med[k], "all": [round(x, 3) for x in v]} for k, v in times.items()},
        "wall_seconds_per_step": {k: {"median": statistics.median(v), "all": [round(x, 3) for x in v]}
                                  for k, v in walls.items()},
        "overhead_vs_ce": {k: med[k] / med["ce"] - 1 for k in ("topk", "sampled")},
        "store_decode_seconds_per_window": decode, "target": "KD step on stored targets ≤ 10% over a CE-only step",
        "load_average": os.getloadavg(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "lm_step_cost.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "lm_step_cost.md").write_text(markdown(result))
    print(markdown(result))


def markdown(r: dict) -> str:
    s, w = r["cpu_seconds_per_step"], r["wall_seconds_per_step"]
    lines = [f"Student: SmolLM2 layers `{r['student_layers']}` ({r['student_parameters']:,} parameters); batch "
             f"{r['batch']}; median of {r['reps']} interleaved steps; {r['threads']} threads.", "",
             "| step | CPU seconds (median) | vs CE-only | wall seconds (median) | store decode, once per shard "
             "(s/window) |", "|---|---|---|---|---|",
             f"| CE only | {s['ce']['median']:.3f} | | {w['ce']['median']:.2f} | |"]
    for k, label in (("topk", "KD, top-64 store"), ("sampled", "KD, sampled store (64 draws)")):
        lines.append(f"| {label} | {s[k]['median']:.3f} | {r['overhead_vs_ce'][k]:+.1%} | {w[k]['median']:.2f} | "
                     f"{r['store_decode_seconds_per_window'][k]:.4f} |")
    lines.append(f"\nTarget: {r['target']}. Load average {r['load_average'][0]:.1f} (shared machine).")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
