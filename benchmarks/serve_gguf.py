"""`distill serve` on a student's transformers folder vs on its GGUF exports (f32, f16, q8_0) through llama.cpp.

The student is a llama-architecture cut of SmolLM2-135M-Instruct (`distill lm student --from smollm2
--layers every-other`: 15 of its 30 layers, untrained), exported with `distill export gguf`. Each way of
serving is a real `distill serve` subprocess on a free port with the same thread count; the same
docs-style questions (one per pydoc topic) are asked one at a time, greedy, at most ``--max-tokens``
tokens each. Per way: tokens/s over the sequential requests, latency per answer, the server process's
CPU-seconds per 1,000 answers (from /proc), startup time, and how many greedy answers are identical to
the transformers ones; where one differs, the transformers model's top-1/top-2 log-probability margin
at the first differing token is recorded (quantization flips near-ties). A second section times the
in-process llama.cpp teacher (the embedded SmolLM2 GGUF) on benchmarks/teacher_batching.py's requests,
beside that benchmark's transformers figures. Writes benchmarks/results/serve_gguf.json and .md.

    python benchmarks/serve_gguf.py --questions 30 --max-tokens 64 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SYSTEM = "You are a documentation assistant for Python. Answer in at most three sentences."


def questions(n: int) -> list[dict]:
    """One question per pydoc topic (every other topic, sorted by name), titled by the topic's heading."""
    from pydoc_data.topics import topics

    names = sorted(topics)[::2][:n]
    out = []
    for name in names:
        title = next((ln.strip() for ln in topics[name].splitlines() if ln.strip()), name)
        out.append({"topic": name, "messages": [{"role": "system", "content": SYSTEM},
                                                {"role": "user", "content": f"What does the documentation say "
                                                                            f"about {title}?"}]})
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Served:
    """`distill serve MODEL` as a subprocess: ``url``, ``pid``, ``startup_s``; ``stop()``."""

    def __init__(self, model: str, threads: int, extra: list[str]):
        env = os.environ | {"PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": str(threads)}
        t0 = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "distill", "serve", model, "--port", "0",
                                      "--served-name", "student", "--threads", str(threads), *extra],
                                     stderr=subprocess.PIPE, text=True, env=env)
        line = ""
        while not re.search(r"serving .* at http:", line):
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                raise RuntimeError(f"distill serve {model} exited with {self.proc.returncode}")
        self.startup_s = time.perf_counter() - t0
        self.url = re.search(r"(http://\S+/v1)", line).group(1)
        self.pid = self.proc.pid

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def ask(client, q: dict, max_tokens: int, logprobs: bool = False) -> dict:
    kw = {"logprobs": True, "top_logprobs": 2} if logprobs else {}
    t0 = time.perf_counter()
    r = client.post("/chat/completions", json={"model": "student", "messages": q["messages"], "temperature": 0,
                                                "max_tokens": max_tokens, **kw})
    r.raise_for_status()
    body = r.json()
    out = {"seconds": time.perf_counter() - t0, "text": body["choices"][0]["message"]["content"],
           "tokens": body["usage"]["completion_tokens"], "finish": body["choices"][0]["finish_reason"]}
    if logprobs:
        out["logprobs"] = body["choices"][0]["logprobs"]["content"]
    return out


def measure(name: str, model: str, qs: list[dict], args, extra=()) -> tuple[dict, Served]:
    import httpx

    s = Served(model, args.threads, list(extra))
    client = httpx.Client(base_url=s.url, timeout=600)
    for q in qs[:2]:  # warm up (first-call allocations)
        ask(client, q, 8)
    load = os.getloadavg()[0]
    c0, t0 = cpu_seconds(s.pid), time.perf_counter()
    answers = [ask(client, q, args.max_tokens) for q in qs]
    wall, cpu = time.perf_counter() - t0, cpu_seconds(s.pid) - c0
    toks = sum(a["tokens"] for a in answers)
    lat = [a["seconds"] for a in answers]
    row = {"name": name, "model": model, "bytes": Path(model).stat().st_size if Path(model).is_file() else
           sum(f.stat().st_size for f in Path(model).glob("*.safetensors")),
           "startup_s": round(s.startup_s, 2), "seconds": round(wall, 2), "tokens": toks,
           "tokens_per_s": round(toks / wall, 2), "latency_median_s": round(statistics.median(lat), 3),
           "latency_p90_s": round(sorted(lat)[int(0.9 * (len(lat) - 1))], 3), "cpu_seconds": round(cpu, 2),
           "cpu_s_per_1000_answers": round(cpu / len(qs) * 1000, 1), "tokens_per_cpu_s": round(toks / cpu, 2),
           "load_avg_1m": round(load, 2), "answers": answers, "client": client,
           "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    print(f"{name:14s} {toks} tokens in {wall:.1f} s = {toks / wall:.1f} tokens/s; {cpu / len(qs) * 1000:.0f} "
          f"CPU-s per 1,000 answers; median latency {statistics.median(lat):.2f} s (load {load:.1f})", flush=True)
    return row, s


def divergence(ref: list[dict], text: str) -> tuple[int, float] | None:
    """(index of the first reference token the other text does not continue with, the reference's top-1 − top-2
    log-prob margin there), or None when ``text`` starts with the whole reference."""
    pos = 0
    for i, e in enumerate(ref):
        tok = e["token"]
        if text[pos:pos + len(tok)] != tok:
            tops = sorted((t["logprob"] for t in e["top_logprobs"]), reverse=True)
            return i, (tops[0] - tops[1]) if len(tops) > 1 else float("inf")
        pos += len(tok)
    return None


def teacher_rows(args) -> list[dict]:
    """The embedded SmolLM2 through the in-process llama.cpp teacher, concurrency 1 and 16, on
    teacher_batching.py's requests."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from teacher_batching import requests as batching_requests

    from distill.lm.models import embedded_gguf
    from distill.teachers import run_chats
    from distill.teachers.llamacpp import LlamaCppTeacher

    teacher = LlamaCppTeacher(str(embedded_gguf()), model="smollm2@llama.cpp", n_threads=args.threads, n_ctx=2048)
    reqs = batching_requests(args.teacher_requests, 32)
    run_chats(teacher, reqs[:2], concurrency=1, progress=False)
    rows = []
    for conc in (1, 16):
        t0, c0 = time.perf_counter(), time.process_time()
        res = run_chats(teacher, reqs, concurrency=conc, progress=False)
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        toks = sum(c.completion_tokens for c in res)
        rows.append({"backend": "llama.cpp (SmolLM2-135M-Instruct Q4_1 GGUF)", "concurrency": conc,
                     "requests": len(reqs), "tokens": toks, "seconds": round(secs, 2),
                     "tokens_per_s": round(toks / secs, 2), "tokens_per_cpu_s": round(toks / cpu, 2),
                     "load_avg_1m": round(os.getloadavg()[0], 2), "texts": [c.text for c in res]})
        print(f"teacher llama.cpp, concurrency {conc}: {toks / secs:.1f} tokens/s", flush=True)
    return rows


def prepare(args) -> dict[str, str]:
    """The student folder and its three GGUF files (built when missing)."""
    student = Path(args.student)
    env = os.environ | {"PYTHONPATH": str(ROOT / "src")}
    if not (student / "config.json").is_file():
        subprocess.run([sys.executable, "-m", "distill", "lm", "student", "--from", "smollm2", "--layers",
                        "every-other", "--out", str(student)], check=True, env=env)
    files = {"transformers": str(student)}
    for q in ("f32", "f16", "q8_0"):
        f = student.parent / f"{student.name}-{q}.gguf"
        if not f.is_file():
            subprocess.run([sys.executable, "-m", "distill", "export", "gguf", str(student), "--quantize", q,
                            "--out", str(f)], check=True, env=env)
        files[f"gguf {q}"] = str(f)
    return files


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--student", default=str(ROOT / "runs" / "bench-serve-gguf" / "student"))
    ap.add_argument("--questions", type=int, default=30)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--teacher-requests", type=int, default=32)
    ap.add_argument("--skip-teacher", action="store_true")
    ap.add_argument("--only", nargs="+", default=["transformers", "gguf f32", "gguf f16", "gguf q8_0"],
                    help="measure only these ways of serving (rows are kept beside the student; see --reuse)")
    ap.add_argument("--reuse", action="store_true", help="reuse rows measured by an earlier run")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "serve_gguf"))
    args = ap.parse_args()

    files = prepare(args)
    qs = questions(args.questions)
    cache = Path(args.student).parent / "rows"
    rows = []
    for name in ("transformers", "gguf f32", "gguf f16", "gguf q8_0"):
        if name not in args.only:
            continue
        kept = cache / f"{name.replace(' ', '_')}.json"
        if args.reuse and kept.is_file():
            rows.append(json.loads(kept.read_text()))
            print(f"{name}: reusing {kept}", flush=True)
            continue
        row, s = measure(name, files[name], qs, args)
        row.pop("client").close()
        s.stop()
        rows.append(row)
        from distill.files import atomic_json

        atomic_json(kept, row)
    if len(rows) < 4:
        return
    ref = rows[0]
    # where an answer differs from the transformers one: the transformers engine's own greedy answer with top-2
    # log-probs (the server's code path, in process), its top-1 − top-2 margin at the first differing token
    from distill.teachers.hf import HFEngine

    refs_lp: dict[int, list] = {}
    all_margins = []
    engine = None
    for row in rows[1:]:
        same, diffs = 0, []
        for i, (a, b) in enumerate(zip(row["answers"], ref["answers"], strict=True)):
            if a["text"] == b["text"]:
                same += 1
                continue
            if i not in refs_lp:
                engine = engine or HFEngine(files["transformers"], device="cpu")
                g = engine.generate(engine.chat_prompt_ids(qs[i]["messages"]), max_tokens=args.max_tokens,
                                    top_logprobs=2)
                assert g["text"] == b["text"], "the in-process greedy answer should be the server's"
                refs_lp[i] = [{"token": t, "top_logprobs": [{"logprob": v} for v in top.values()]}
                              for t, top in zip(g["tokens"], g["top_logprobs"], strict=True)]
            d = divergence(refs_lp[i], a["text"])
            diffs.append({"question": i, "topic": qs[i]["topic"], "first_diff_token": d[0] if d else None,
                          "margin_nats": round(d[1], 4) if d else None})
        row["identical_to_transformers"] = same
        row["differences"] = diffs
    for lp in refs_lp.values():
        all_margins += [sorted((t["logprob"] for t in e["top_logprobs"]), reverse=True) for e in lp]
    typical = statistics.median(m[0] - m[1] for m in all_margins if len(m) > 1) if all_margins else None
    for row in rows:
        row["speedup_vs_transformers"] = round(row["tokens_per_s"] / ref["tokens_per_s"], 2)
        row["cpu_speedup_vs_transformers"] = round(row["tokens_per_cpu_s"] / ref["tokens_per_cpu_s"], 2)
        row["sample_answer"] = row["answers"][0]["text"]
        row["texts"] = [a["text"] for a in row.pop("answers")]
    teacher = [] if args.skip_teacher else teacher_rows(args)
    batching = ROOT / "benchmarks" / "results" / "teacher_batching.json"
    hf_teacher = json.loads(batching.read_text()) if batching.is_file() else None

    cmd = (f"python benchmarks/serve_gguf.py --questions {args.questions} --max-tokens {args.max_tokens} "
           f"--threads {args.threads}")
    out = {"student": "SmolLM2-135M-Instruct, every other layer kept (15 of 30; `distill lm student --from smollm2 "
                      "--layers every-other`, untrained)", "questions": len(qs), "max_tokens": args.max_tokens,
           "threads": args.threads, "cpu_count": os.cpu_count(), "machine": platform.processor() or platform.machine(),
           "greedy": True, "rows": rows, "median_margin_at_reference_tokens_nats": typical,
           "teacher_llamacpp": teacher,
           "teacher_transformers_median_tokens_per_s": hf_teacher and hf_teacher["median_tokens_per_s"],
           "command": cmd}
    lines = ["# `distill serve`: a student's transformers folder vs its GGUF files through llama.cpp", "",
             f"{out['student']}. {len(qs)} docs-style questions (one per pydoc topic), asked one at a time, greedy, "
             f"≤ {args.max_tokens} tokens; each server a `distill serve` subprocess with {args.threads} thread(s) "
             f"({os.cpu_count()}-core shared machine; load average in the JSON). `{cmd}`", "",
             "| served | file MB | startup s | tokens/s | × transformers | median latency s | p90 s | "
             "CPU-s per 1,000 answers | tokens per CPU-s | greedy answers identical |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        same = f"{r['identical_to_transformers']}/{len(qs)}" if "identical_to_transformers" in r else "(reference)"
        lines.append(f"| {r['name']} | {r['bytes'] / 1e6:.0f} | {r['startup_s']} | {r['tokens_per_s']} | "
                     f"{r['speedup_vs_transformers']}× | {r['latency_median_s']} | {r['latency_p90_s']} | "
                     f"{r['cpu_s_per_1000_answers']:,} | {r['tokens_per_cpu_s']} | {same} |")
    diffs = [(r["name"], d) for r in rows[1:] for d in r["differences"]]
    lines += [""]
    if diffs:
        margins = [d["margin_nats"] for _, d in diffs if d["margin_nats"] is not None]
        lines += [f"Differences: {len(diffs)} answers in all. At the first token where a GGUF answer leaves the "
                  f"transformers one, the transformers model's top-1 − top-2 log-probability margin has median "
                  f"{statistics.median(margins):.3f} nats (max {max(margins):.3f}), against a median of "
                  f"{typical:.3f} nats over all tokens of those answers: the answers part at near-ties, where "
                  f"rounding (f16, f32 kernels' summation order) or 8-bit quantization (q8_0) moves the logits by "
                  f"more than the gap." if margins else f"Differences: {len(diffs)}."]
    else:
        lines += ["Every GGUF answer is identical to the transformers one."]
    if teacher:
        lines += ["", f"## In-process teacher, llama.cpp ({args.threads} thread(s)), teacher_batching.py's "
                      f"{args.teacher_requests} requests × ≤ 32 tokens", "",
                  "| teacher | concurrency | tokens/s | tokens per CPU-s |", "|---|---:|---:|---:|"]
        for t in teacher:
            lines.append(f"| {t['backend']} | {t['concurrency']} | {t['tokens_per_s']} | {t['tokens_per_cpu_s']} |")
        if hf_teacher:
            m = hf_teacher["median_tokens_per_s"]
            lines.append(f"| transformers float32, dynamic batching (benchmarks/results/teacher_batching.md, "
                         f"{hf_teacher['torch_threads']} thread(s), an earlier run) | 1 / {hf_teacher['concurrency']} | "
                         f"{m['sequential']} / {m['batched']} | — |")
        lines += ["", "llama.cpp runs one request at a time (one `Llama` under a lock), so concurrency does not add "
                      "speed there; its sequential speed is the figure to compare with transformers' batched one."]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    from distill.files import atomic_json, atomic_text

    atomic_json(args.out + ".json", out)
    atomic_text(args.out + ".md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
