"""Tokens/s of ``run_chats`` on the embedded SmolLM2 teacher (transformers), one request at a time vs 16 in flight.

At concurrency 16 the in-process teacher decodes the requests in flight as one batch
(distill.teachers.batching); at concurrency 1 each request decodes alone. Both runs ask the same greedy
requests (distinct short questions, ``--max-tokens`` tokens each), and the benchmark counts how many
batched answers equal the sequential ones token for token. Each setting is timed ``--repeats`` times.
Writes benchmarks/results/teacher_batching.json and .md.

    python benchmarks/teacher_batching.py --requests 32 --max-tokens 32 --repeats 3 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TOPICS = ["a Python list", "a dictionary", "a generator", "a decorator", "the GIL", "a context manager",
          "asyncio", "a virtual environment", "pip", "a tuple", "a set", "f-strings", "type hints", "a lambda",
          "list comprehensions", "the `with` statement", "exceptions", "a module", "a package", "pathlib",
          "dataclasses", "the `yield` keyword", "recursion", "a class", "inheritance", "unit tests",
          "logging", "JSON", "regular expressions", "threads", "sorting", "slicing"]


def requests(n: int, max_tokens: int) -> list[dict]:
    return [{"messages": [{"role": "user", "content": f"In one sentence, what is {TOPICS[i % len(TOPICS)]}?"
                           + (f" (variant {i // len(TOPICS)})" if i >= len(TOPICS) else "")}],
             "max_tokens": max_tokens} for i in range(n)]


def timed(teacher, reqs, concurrency: int) -> tuple[float, float, int, list]:
    """Wall seconds, CPU seconds of this process (all threads), tokens generated, answers."""
    from distill.teachers import run_chats

    t0, c0 = time.perf_counter(), time.process_time()
    res = run_chats(teacher, reqs, concurrency=concurrency, progress=False)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    return secs, cpu, sum(c.completion_tokens for c in res), res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sequential-repeats", type=int, default=2, help="repeats of the slow sequential run")
    ap.add_argument("--sequential-requests", type=int, default=0,
                    help="ask only the first N requests in the sequential runs (a rate: 0 = all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "teacher_batching"))
    args = ap.parse_args()

    import torch

    from distill.teachers import load_teacher

    torch.set_num_threads(args.threads)
    teacher = load_teacher("smollm2", device=args.device, backend="transformers")
    reqs = requests(args.requests, args.max_tokens)
    timed(teacher, reqs[:2], 1)  # warm up
    runs: dict[str, list[dict]] = {"sequential": [], "batched": []}
    answers: dict[str, list] = {}
    n_seq = args.sequential_requests or args.requests
    for name, conc, reps, asked in (("sequential", 1, args.sequential_repeats, reqs[:n_seq]),
                                    ("batched", args.concurrency, args.repeats, reqs)):
        for r in range(reps):
            teacher.batcher.sizes.clear()
            secs, cpu, toks, res = timed(teacher, asked, conc)
            runs[name].append({"requests": len(asked), "seconds": round(secs, 2), "cpu_seconds": round(cpu, 2), "tokens": toks,
                               "tokens_per_s": round(toks / secs, 2), "tokens_per_cpu_s": round(toks / cpu, 2),
                               "batch_sizes": sorted(set(teacher.batcher.sizes)), "load_avg_1m": os.getloadavg()[0]})
            answers.setdefault(name, res)
            print(f"{name:10s} run {r + 1}: {toks} tokens in {secs:.1f} s = {toks / secs:.1f} tokens/s "
                  f"({toks / cpu:.1f} per CPU-second; load {os.getloadavg()[0]:.1f})", flush=True)
    med = {k: statistics.median(x["tokens_per_s"] for x in v) for k, v in runs.items()}
    med_cpu = {k: statistics.median(x["tokens_per_cpu_s"] for x in v) for k, v in runs.items()}
    same = sum(a.text == b.text for a, b in zip(answers["sequential"], answers["batched"][:n_seq], strict=True))
    out = {"model": "smollm2 (SmolLM2-135M-Instruct, float32, transformers)", "device": args.device,
           "torch_threads": args.threads, "cpu_count": os.cpu_count(), "machine": platform.processor() or platform.machine(),
           "requests": args.requests, "max_tokens": args.max_tokens, "concurrency": args.concurrency,
           "runs": runs, "median_tokens_per_s": med, "speedup": round(med["batched"] / med["sequential"], 2),
           "median_tokens_per_cpu_s": med_cpu, "speedup_per_cpu_s": round(med_cpu["batched"] / med_cpu["sequential"], 2),
           "greedy_same_as_sequential": same, "greedy_compared": n_seq, "sequential_requests": n_seq,
           "command": f"python benchmarks/teacher_batching.py --requests {args.requests} --max-tokens "
                      f"{args.max_tokens} --repeats {args.repeats} --sequential-repeats {args.sequential_repeats} "
                      f"--sequential-requests {n_seq} --threads {args.threads}"}
    lines = [f"# Embedded teacher: run_chats tokens/s, concurrency 1 vs {args.concurrency}", "",
             f"{args.requests} greedy requests (sequential runs: the first {n_seq}) × ≤ {args.max_tokens} tokens, SmolLM2-135M-Instruct (float32, "
             f"transformers) on {args.device}, torch threads {args.threads}. `{out['command']}`", "",
             "The machine is shared (load average at each run in the JSON): wall-clock tokens/s depend on the "
             "share of the CPU the run got, so tokens per CPU-second of the process are given beside them.", "",
             "| setting | runs | tokens/s (each run) | median tokens/s | tokens per CPU-s (each run) | median |",
             "|---|---:|---|---:|---|---:|"]
    for k, v in runs.items():
        lines.append(f"| {k} (concurrency {1 if k == 'sequential' else args.concurrency}) | {len(v)} | "
                     f"{', '.join(str(x['tokens_per_s']) for x in v)} | {med[k]:.1f} | "
                     f"{', '.join(str(x['tokens_per_cpu_s']) for x in v)} | {med_cpu[k]:.1f} |")
    lines += ["", f"Speed-up (medians): **{out['speedup']}×** wall-clock, **{out['speedup_per_cpu_s']}×** per "
                  f"CPU-second. Batched greedy answers identical to sequential: {same}/{n_seq}."]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out + ".json").write_text(json.dumps(out, indent=2) + "\n")
    Path(args.out + ".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
