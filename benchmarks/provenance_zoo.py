"""Provenance on a local model zoo built here: attribution, black-box and white-box lineage.

The closest zoo a shared 2-core CPU allows. NOT SmolLM2 / Gemma (they generate ~20 tokens/s here): every
model is a tiny 2-layer Llama (hidden 64, ~150k parameters) made and trained in this script, offline, on
Python's documentation topics (``pydoc_data.topics``, stdlib), with one shared byte-level BPE tokenizer
(512 tokens) trained on that corpus. Every model is saved as a Hugging Face folder (``save_pretrained`` +
tokenizer) under ``runs/provenance_zoo/models`` and the detectors load them from disk.

- corpus: the topics joined in sorted order, cut into 1,000-character pieces; every 10th piece is held out
  (never trained on; the evaluation prompts come from it); the rest is cut into 4 contiguous slices (so each
  slice holds different topics).
- teachers t0..t3: teacher k trained on a mixture, 75% windows of slice k and 25% of the whole training text,
  seed 10 + k;
- references r0..r2: the same architecture on the whole training text (uniform), seeds 20 + j, no teacher;
- students, for t0 and t1, seeds 0 and 1 each: ``sft`` (black box: trained from scratch only on the teacher's
  sampled continuations of training-text prompts, loss on the continuation) and ``kd`` (white box: from
  scratch, forward KL to the teacher's next-token distribution on training-text windows, distill.losses);
- everything trains through the one loop (distill.train.loop), AdamW, warm-up then linear decay, clip 1.

Measured, through the package:

- collection: every model continues the same held-out prompts (16 tokens → 48 new tokens, T = 1, seeded,
  batched ``model.generate``); ≥ 500 answers per model; written in `attribution-collect`'s answers format;
- attribution: ``python -m distill detect attribution-train`` (the CLI, subprocess) on the 4 teachers'
  answers, out of fold by prompt (GroupKFold over prompts), TF-IDF and MiniLM-embedding classifiers; the 3
  references are held-out sources for the open-set rule ("none of these" at ≤ 5% in-set cost);
- black-box lineage: ``distill.detect.attribution.lineage.run`` per student (candidates: the 4 teachers;
  references: r0..r2; character n-gram TF-IDF similarity; per-prompt relabelling, 9,999 permutations);
- white-box lineage: ``python -m distill detect lineage-white-box`` (CLI, on the saved folders) per student
  with the ``reference-t`` test, and ``whitebox.run`` with the ``relabel`` test on the same generations;
- ``generate_own`` with and without the KV cache, timed on one model.

    OMP_NUM_THREADS=1 PYTHONPATH=src nice python benchmarks/provenance_zoo.py           # the README figures
    OMP_NUM_THREADS=1 PYTHONPATH=src nice python benchmarks/provenance_zoo.py --quick   # a smoke run

Writes benchmarks/results/provenance_zoo.json, .md and provenance_zoo_confusion.png.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from defenses import make_llama, make_tokenizer  # noqa: E402

from distill.files import atomic_json, atomic_text  # noqa: E402

PROMPT, HIDDEN, LAYERS, VOCAB = 16, 64, 2, 512
TEACHERS, REFERENCES = ("t0", "t1", "t2", "t3"), ("r0", "r1", "r2")


# ---------------------------------------------------------------- corpus
def corpus() -> tuple[list[str], str]:
    """(4 training slices, held-out text): every 10th 1,000-char piece held out, the rest in 4 contiguous slices."""
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[k] for k in sorted(topics))
    pieces = [text[i:i + 1000] for i in range(0, len(text), 1000)]
    held = "".join(p for i, p in enumerate(pieces) if i % 10 == 9)
    train = [p for i, p in enumerate(pieces) if i % 10 != 9]
    q = len(train) // 4
    return ["".join(train[k * q:(k + 1) * q if k < 3 else len(train)]) for k in range(4)], held


# ---------------------------------------------------------------- recipes (distill.train.loop)
class WindowLM:
    """Next-token loss on random 64-token windows; with prob ``own`` from ``slice_ids``, else from ``all_ids``."""

    def __init__(self, model, all_ids, slice_ids, own: float, seed: int, batch: int = 16, length: int = 64):
        self.model, self.all, self.slice, self.own = model, all_ids, slice_ids, own
        self.seed, self.batch, self.length = seed, batch, length

    def windows(self, step: int) -> torch.Tensor:
        rng = np.random.default_rng(self.seed * 100_003 + step)
        rows = []
        for _ in range(self.batch):
            src = self.slice if (self.slice is not None and rng.random() < self.own) else self.all
            s = int(rng.integers(0, len(src) - self.length - 1))
            rows.append(src[s:s + self.length])
        return torch.tensor(np.stack(rows))

    def micro_batches(self, step):
        return [self.windows(step)]

    def loss(self, x, step):
        return self.model(input_ids=x, labels=x).loss, {}

    def save(self, folder):  # no checkpoints: each model trains in well under a minute
        pass

    def load(self, folder):
        pass


class KD(WindowLM):
    """Forward KL(teacher ‖ student) on every position of random training windows (white-box KD)."""

    def __init__(self, model, teacher, all_ids, seed: int):
        super().__init__(model, all_ids, None, 0.0, seed)
        self.teacher = teacher

    def loss(self, x, step):
        from distill.losses import forward_kl

        with torch.no_grad():
            t = self.teacher(input_ids=x).logits
        return forward_kl(self.model(input_ids=x).logits, t), {}


class SFT:
    """Next-token loss on the answer part of (prompt + teacher answer) rows (black-box SFT)."""

    def __init__(self, model, rows: torch.Tensor, seed: int, batch: int = 16):
        self.model, self.x, self.seed, self.batch = model, rows, seed, batch
        self.y = rows.clone()
        self.y[:, :PROMPT] = -100

    def micro_batches(self, step):
        g = torch.Generator().manual_seed(self.seed * 100_003 + step)
        return [torch.randint(0, len(self.x), (self.batch,), generator=g)]

    def loss(self, idx, step):
        return self.model(input_ids=self.x[idx], labels=self.y[idx]).loss, {}

    def save(self, folder):
        pass

    def load(self, folder):
        pass


def fit(model, make_recipe, steps: int, lr: float, desc: str):
    """Train through distill.train.loop (AdamW, 20-step warm-up, linear decay, clip 1); returns the last loss."""
    from accelerate import Accelerator

    from distill.train import loop

    acc = Accelerator(cpu=True)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 20) * max(0.0, 1 - s / steps))
    m, opt = acc.prepare(model, opt)
    r = loop.run(make_recipe(m), model=m, optimizer=opt, scheduler=sched, accelerator=acc,
                 spec=loop.LoopSpec(steps=steps, desc=desc, max_grad_norm=1.0), ckpt=None, settings=None)
    model = acc.unwrap_model(m).eval()
    return model, float(r.last["loss"])


# ---------------------------------------------------------------- generation
def sample(model, prompts: list[list[int]], new: int, seed: int, batch: int = 200) -> list[list[int]]:
    """Sampled continuations (T = 1, no top-k/top-p), exactly ``new`` tokens each, batched with the KV cache."""
    out = []
    for i in range(0, len(prompts), batch):
        torch.manual_seed(seed * 7919 + i)
        x = torch.tensor(prompts[i:i + batch])
        with torch.inference_mode():
            y = model.generate(x, attention_mask=torch.ones_like(x), do_sample=True, top_k=0, top_p=1.0,
                               temperature=1.0, max_new_tokens=new, min_new_tokens=new, pad_token_id=0)
        out += [r[x.shape[1]:].tolist() for r in y]
    return out


def windows_at(ids: np.ndarray, n: int, length: int, seed: int) -> list[list[int]]:
    starts = np.random.default_rng(seed).integers(0, len(ids) - length - 1, n)
    return [ids[s:s + length].tolist() for s in starts]


def heldout_ppl(model, held: np.ndarray) -> float:
    x = torch.tensor(np.stack(windows_at(held, 64, 64, 999)))
    with torch.inference_mode():
        return float(np.exp(float(model(input_ids=x, labels=x).loss)))


# ---------------------------------------------------------------- the zoo
def build(args, run: Path) -> tuple[dict, dict, object, np.ndarray]:
    slices_text, held_text = corpus()
    tok = make_tokenizer("".join(slices_text), VOCAB)
    slices = [np.array(tok(s)["input_ids"]) for s in slices_text]
    all_ids = np.concatenate(slices)
    held = np.array(tok(held_text)["input_ids"])
    vocab = len(tok)
    print(f"corpus: {len(all_ids):,} training tokens in 4 slices ({[len(s) for s in slices]}), {len(held):,} held out; "
          f"vocab {vocab}", flush=True)
    models, info = {}, {}

    def keep(name, model, kind, loss, t0, **extra):
        folder = run / "models" / name
        model.save_pretrained(folder)
        tok.save_pretrained(folder)
        models[name] = model
        info[name] = {"kind": kind, "final_loss": round(loss, 4), "heldout_ppl": round(heldout_ppl(model, held), 2),
                      "seconds": round(time.perf_counter() - t0, 1), "folder": str(folder.relative_to(ROOT))} | extra
        print(f"  {name} ({kind}): loss {loss:.3f}, held-out ppl {info[name]['heldout_ppl']:.1f} "
              f"[{info[name]['seconds']} s]", flush=True)

    for k, name in enumerate(TEACHERS):
        t0 = time.perf_counter()
        m, loss = fit(make_llama(vocab, HIDDEN, LAYERS, seed=10 + k),
                      lambda m, k=k: WindowLM(m, all_ids, slices[k], 0.75, seed=10 + k), args.steps, 3e-3, name)
        keep(name, m, "teacher", loss, t0, slice=k, own_share=0.75, seed=10 + k)
    for j, name in enumerate(REFERENCES):
        t0 = time.perf_counter()
        m, loss = fit(make_llama(vocab, HIDDEN, LAYERS, seed=20 + j),
                      lambda m, j=j: WindowLM(m, all_ids, None, 0.0, seed=20 + j), args.steps, 3e-3, name)
        keep(name, m, "reference", loss, t0, seed=20 + j)
    for teacher in args.distilled:
        T = models[teacher]
        sft_prompts = windows_at(all_ids, args.sft_texts, PROMPT, seed=300 + TEACHERS.index(teacher))
        t0 = time.perf_counter()
        answers = sample(T, sft_prompts, args.answer_tokens, seed=400 + TEACHERS.index(teacher))
        rows = torch.tensor([p + a for p, a in zip(sft_prompts, answers, strict=True)])
        print(f"  {teacher}: {len(rows)} SFT answers sampled [{time.perf_counter() - t0:.1f} s]", flush=True)
        for s in range(args.seeds):
            t0 = time.perf_counter()
            m, loss = fit(make_llama(vocab, HIDDEN, LAYERS, seed=50 + s),
                          lambda m, s=s: SFT(m, rows, seed=60 + s), args.steps, 3e-3, f"sft-{teacher}-{s}")
            keep(f"sft-{teacher}-{s}", m, "sft student", loss, t0, teacher=teacher, seed=s,
                 sft_texts=len(rows))
            t0 = time.perf_counter()
            m, loss = fit(make_llama(vocab, HIDDEN, LAYERS, seed=70 + s),
                          lambda m, s=s, T=T: KD(m, T, all_ids, seed=80 + s), args.steps, 3e-3, f"kd-{teacher}-{s}")
            keep(f"kd-{teacher}-{s}", m, "kd student", loss, t0, teacher=teacher, seed=s)
    return models, info, tok, held


def collect(models: dict, tok, held: np.ndarray, args, run: Path) -> tuple[Path, Path, list[list[int]], dict]:
    """Every model continues the same held-out prompts; rows in `attribution-collect`'s format."""
    prompts = windows_at(held, args.answers, PROMPT, seed=7)
    texts = [tok.decode(p) for p in prompts]
    rows, secs = [], {}
    for k, name in enumerate(sorted(models)):
        t0 = time.perf_counter()
        gen = sample(models[name], prompts, args.answer_tokens, seed=1000 + k)
        secs[name] = round(time.perf_counter() - t0, 2)
        rows += [{"source": name, "prompt_id": f"h{i}", "group": f"h{i}", "lang": "en", "prompt": t,
                  "answer": tok.decode(g), "completion_tokens": len(g)} for i, (t, g) in enumerate(zip(texts, gen,
                                                                                                    strict=True))]
    print(f"collected {len(rows)} answers ({args.answers} per model, {args.answer_tokens} tokens) in "
          f"{sum(secs.values()):.1f} s", flush=True)
    every = run / "answers.jsonl"
    atomic_text(every, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    attr = run / "answers_attribution.jsonl"  # the teachers and references only
    atomic_text(attr, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows
                             if r["source"] in TEACHERS + REFERENCES))
    wb = run / "prompts_whitebox.jsonl"
    atomic_text(wb, "".join(json.dumps({"id": f"h{i}", "text": t}) + "\n" for i, t in enumerate(texts[:args.wb_prompts])))
    return every, attr, prompts, {"generation_seconds": secs, "answers_per_model": args.answers}


def cli(*argv: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    p = subprocess.run([sys.executable, "-m", "distill", *argv, "--json", "-q"], capture_output=True, text=True,
                       env=env, cwd=ROOT)
    if p.returncode:
        raise RuntimeError(f"distill {' '.join(argv)} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout)


def attribution(attr: Path, run: Path) -> dict:
    out = run / "attribution"
    cli("detect", "attribution-train", str(attr), "--out", str(out),
        "--held-out-sources", *REFERENCES, "--folds", "5")
    res = json.loads((out / "results.json").read_text())
    for r in res["classifiers"].values():
        o = r["open_set"]
        o["held_out_marked_none"] = {"n": o["held_out_forced"]["n"],
                                     "rate": round(1 - o["held_out_forced"]["rate"], 4),
                                     "ci95": [round(1 - o["held_out_forced"]["ci95"][1], 4),
                                              round(1 - o["held_out_forced"]["ci95"][0], 4)]}
        o["in_set_cost"] = round(r["accuracy"]["rate"] - o["in_set_accuracy_with_rule"]["rate"], 4)
    return res


def students(info: dict) -> list[str]:
    return sorted(n for n, v in info.items() if v["kind"].endswith("student"))


def lineage_blackbox(every: Path, info: dict, run: Path, permutations: int) -> list[dict]:
    from distill.detect.attribution.lineage import LineageConfig
    from distill.detect.attribution.lineage import run as lineage_run

    out = []
    for s in students(info):
        res = lineage_run(LineageConfig(answers=(str(every),), suspect=s, candidates=TEACHERS, references=REFERENCES,
                                        permutations=permutations, out=str(run / "lineage" / s)))
        for c in res["candidates"]:
            out.append({"suspect": s, "kind": info[s]["kind"], "candidate": c["candidate"],
                        "true_teacher": c["candidate"] == info[s]["teacher"], "p": c["p_value"], "p_holm": c["p_holm"],
                        "sim_candidate": c["similarity_to_candidate"], "sim_references": c["similarity_to_references"]})
        print(f"  black-box {s}: " + ", ".join(f"{c['candidate']} p={c['p_value']:.3g}" for c in res["candidates"]),
              flush=True)
    return out


def lineage_whitebox(info: dict, run: Path, wb_prompts: Path, permutations: int, tokens: int) -> list[dict]:
    from distill.detect.attribution.whitebox import WhiteBoxLineageConfig
    from distill.detect.attribution.whitebox import run as wb_run

    folder = {n: str(run / "models" / n) for n in info}
    out = []
    for s in students(info):
        common = ["--suspect", f"{s}={folder[s]}", "--candidates", *[f"{c}={folder[c]}" for c in TEACHERS],
                  "--references", *[f"{r}={folder[r]}" for r in REFERENCES], "--prompts", str(wb_prompts),
                  "--groups", "0", "--max-new-tokens", str(tokens), "--batch", "64"]
        t0 = time.perf_counter()
        ref_t = cli("detect", "lineage-white-box", *common, "--test", "reference-t", "--out",
                    str(run / "whitebox" / s / "reference-t"))
        cli_s = time.perf_counter() - t0
        rel = wb_run(WhiteBoxLineageConfig(
            suspect=f"{s}={folder[s]}", candidates=tuple(f"{c}={folder[c]}" for c in TEACHERS),
            references=tuple(f"{r}={folder[r]}" for r in REFERENCES), prompts=str(wb_prompts), groups=0,
            max_new_tokens=tokens, batch=64, test="relabel", permutations=permutations,
            out=str(run / "whitebox" / s / "relabel")))
        for a, b in zip(ref_t["candidates"], rel["candidates"], strict=True):
            assert a["candidate"] == b["candidate"] and abs(a["statistic"] - b["statistic"]) < 1e-9
            out.append({"suspect": s, "kind": info[s]["kind"], "candidate": a["candidate"],
                        "true_teacher": a["candidate"] == info[s]["teacher"], "kl_candidate": a["kl_candidate"],
                        "kl_references": a["kl_references"], "top1_candidate": a["top1_candidate"],
                        "top1_references": a["top1_references"], "references_statistic": a["references_statistic"],
                        "p_reference_t": a["p_value"], "p_holm_reference_t": a["p_holm"],
                        "p_relabel": b["p_value"], "p_holm_relabel": b["p_holm"], "prompts": a["prompts"]})
        print(f"  white-box {s} [{cli_s:.0f} s CLI]: " + ", ".join(
            f"{a['candidate']} KL={a['kl_candidate']:.3f} p_t={a['p_value']:.2g} p_rel={b['p_value']:.2g}"
            for a, b in zip(ref_t["candidates"], rel["candidates"], strict=True)), flush=True)
    return out


def null_checks(info: dict, run: Path, wb_prompts: Path, permutations: int, tokens: int) -> list[dict]:
    """Whole-model nulls: each teacher as the suspect, the other teachers as candidates (none taught it)."""
    from distill.detect.attribution.whitebox import WhiteBoxLineageConfig
    from distill.detect.attribution.whitebox import run as wb_run

    folder = {n: str(run / "models" / n) for n in info}
    out = []
    for s in TEACHERS:
        others = [c for c in TEACHERS if c != s]
        by = {}
        for test in ("reference-t", "relabel"):
            r = wb_run(WhiteBoxLineageConfig(
                suspect=f"{s}={folder[s]}", candidates=tuple(f"{c}={folder[c]}" for c in others),
                references=tuple(f"{r}={folder[r]}" for r in REFERENCES), prompts=str(wb_prompts), groups=0,
                max_new_tokens=tokens, batch=64, test=test, permutations=permutations,
                out=str(run / "whitebox_null" / s / test)))
            by[test] = r["candidates"]
        for a, b in zip(by["reference-t"], by["relabel"], strict=True):
            out.append({"suspect": s, "candidate": a["candidate"], "kl_candidate": a["kl_candidate"],
                        "kl_references": a["kl_references"], "p_reference_t": a["p_value"], "p_relabel": b["p_value"]})
    return out


def kv_timing(model, prompts: list[list[int]], tokens: int) -> dict:
    from distill.detect.attribution.whitebox import generate_own

    out = {}
    for cache in (True, False):
        t0 = time.perf_counter()
        g = generate_own(model, prompts, tokens, 1.0, seed=0, batch=64, cache=cache)
        out["cached_s" if cache else "uncached_s"] = round(time.perf_counter() - t0, 2)
        out["tokens_cached" if cache else "tokens_uncached"] = g
    same = out.pop("tokens_cached") == out.pop("tokens_uncached")
    return out | {"identical_tokens": same, "prompts": len(prompts), "new_tokens": tokens,
                  "speedup": round(out["uncached_s"] / max(out["cached_s"], 1e-9), 2)}


# ---------------------------------------------------------------- summary
def rate(k: int, n: int) -> dict:
    from distill.detect.attribution.train import accuracy

    return accuracy(k, n)


def summarize(bb: list[dict], wb: list[dict], nulls: list[dict]) -> dict:
    def side(rows, key):
        true = [r for r in rows if r["true_teacher"]]
        null = [r for r in rows if not r["true_teacher"]]
        return {"true_pairs": len(true), "true_below_0.01": sum(r[key] < 0.01 for r in true),
                "true_max_p": max(r[key] for r in true), "null_pairs": len(null),
                "null_below_0.05": sum(r[key] < 0.05 for r in null), "null_fpr": rate(sum(r[key] < 0.05 for r in null),
                                                                                     len(null)),
                "null_min_p": min(r[key] for r in null)}

    return {"black_box_relabel": side(bb, "p"), "white_box_reference_t": side(wb, "p_reference_t"),
            "white_box_relabel": side(wb, "p_relabel"),
            "teacher_vs_teacher_nulls": {"pairs": len(nulls),
                                         "reference_t_below_0.05": sum(r["p_reference_t"] < 0.05 for r in nulls),
                                         "relabel_below_0.05": sum(r["p_relabel"] < 0.05 for r in nulls)}}


def pct(a: dict) -> str:
    return f"{a['rate']:.1%} [{a['ci95'][0]:.1%}, {a['ci95'][1]:.1%}] (n={a['n']})"


def markdown(res: dict) -> str:
    s, a = res["setup"], res["attribution"]
    lines = ["# Provenance on a local model zoo (benchmarks/provenance_zoo.py)", "",
             f"Tiny 2-layer Llamas (hidden {HIDDEN}, {s['params']:,} parameters, BPE vocabulary {s['vocab']}) made and "
             f"trained here for {s['steps']} steps each on Python's documentation topics — NOT SmolLM2/Gemma. "
             f"4 teachers (each 75% its own corpus slice), 3 references (whole corpus, no teacher), "
             f"{len(s['students'])} students (SFT on the teacher's sampled answers, and logit KD; teachers "
             f"{', '.join(s['distilled'])}; seeds 0..{s['seeds'] - 1}). {s['answers']} answers of "
             f"{s['answer_tokens']} tokens per model to held-out prompts; {res['seconds']:.0f} s in all "
             f"({s['threads']} thread).", "", "## Models", "",
             "| model | kind | teacher | held-out perplexity | final loss |", "|---|---|---|---|---|"]
    for n, v in res["models"].items():
        lines.append(f"| {n} | {v['kind']} | {v.get('teacher', '')} | {v['heldout_ppl']:.2f} | {v['final_loss']:.3f} |")
    lines += ["", f"## Attribution ({len(a['sources'])}-way, {a['in_set']} answers, out of fold over "
              f"{a['prompt_groups']} prompts; open set: the {a['held_out']} answers of the 3 references)", "",
              "| classifier | 4-way accuracy | held-out model's texts marked 'none of these' | in-set accuracy with the "
              "rule | cost |", "|---|---|---|---|---|"]
    for kind, r in a["classifiers"].items():
        o = r["open_set"]
        lines.append(f"| {kind} | {pct(r['accuracy'])} | {pct(o['held_out_marked_none'])} | "
                     f"{pct(o['in_set_accuracy_with_rule'])} | {o['in_set_cost']:.1%} |")
    for kind, why in a.get("skipped", {}).items():
        lines.append(f"\n{kind} skipped: {why}")
    m = res["lineage_summary"]
    lines += ["", "## Lineage: every (student, teacher) pair", "",
              "| test | true pairs at p < 0.01 | largest true p | null pairs at p < 0.05 (FPR) | smallest null p |",
              "|---|---|---|---|---|"]
    for k, lab in (("black_box_relabel", "black-box (TF-IDF similarity, relabel)"),
                   ("white_box_reference_t", "white-box KL, reference-t"), ("white_box_relabel", "white-box KL, relabel")):
        v = m[k]
        lines.append(f"| {lab} | {v['true_below_0.01']} of {v['true_pairs']} | {v['true_max_p']:.3g} | "
                     f"{v['null_below_0.05']} of {v['null_pairs']} ({pct(v['null_fpr'])}) | {v['null_min_p']:.3g} |")
    t = m["teacher_vs_teacher_nulls"]
    lines += ["", f"Whole-model nulls (each teacher as the suspect, the other 3 teachers as candidates; none taught it; "
              f"{t['pairs']} pairs): reference-t flags {t['reference_t_below_0.05']}, relabel flags "
              f"{t['relabel_below_0.05']} at p < 0.05.", "",
              "| suspect | candidate | true | black-box p | KL cand. | KL refs | top-1 cand. | top-1 refs | p reference-t | "
              "p relabel |", "|---|---|---|---|---|---|---|---|---|---|"]
    bb = {(r["suspect"], r["candidate"]): r for r in res["lineage_black_box"]}
    for r in res["lineage_white_box"]:
        b = bb[(r["suspect"], r["candidate"])]
        lines.append(f"| {r['suspect']} | {r['candidate']} | {'yes' if r['true_teacher'] else ''} | {b['p']:.3g} | "
                     f"{r['kl_candidate']:.3f} | {r['kl_references']:.3f} | {r['top1_candidate']:.3f} | "
                     f"{r['top1_references']:.3f} | {r['p_reference_t']:.3g} | {r['p_relabel']:.3g} |")
    k = res["kv_cache"]
    lines += ["", f"generate_own, {k['prompts']} prompts × {k['new_tokens']} tokens: {k['cached_s']} s with the KV "
              f"cache, {k['uncached_s']} s without ({k['speedup']}×), identical tokens: {k['identical_tokens']}.", "",
              f"Command: `{s['command']}`"]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--answers", type=int, default=600)
    ap.add_argument("--answer-tokens", type=int, default=48)
    ap.add_argument("--sft-texts", type=int, default=4000)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--distilled", nargs="+", default=["t0", "t1"])
    ap.add_argument("--wb-prompts", type=int, default=200)
    ap.add_argument("--wb-tokens", type=int, default=32)
    ap.add_argument("--permutations", type=int, default=9999)
    ap.add_argument("--run", default=str(ROOT / "runs" / "provenance_zoo"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "provenance_zoo"))
    args = ap.parse_args()
    if args.quick:
        args.steps, args.answers, args.sft_texts, args.seeds, args.wb_prompts = 60, 120, 400, 1, 40
        args.permutations, args.out, args.run = 999, args.out + "_quick", args.run + "_quick"
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    t0 = time.perf_counter()
    run = Path(args.run)
    shutil.rmtree(run, ignore_errors=True)
    models, info, tok, held = build(args, run)
    every, attr, prompts, col = collect(models, tok, held, args, run)
    print("attribution (CLI)", flush=True)
    a = attribution(attr, run)
    for kind, r in a["classifiers"].items():
        print(f"  {kind}: {pct(r['accuracy'])}; none-of-these on held-out {pct(r['open_set']['held_out_marked_none'])}, "
              f"cost {r['open_set']['in_set_cost']:.1%}", flush=True)
    print("lineage, black box", flush=True)
    bb = lineage_blackbox(every, info, run, args.permutations)
    print("lineage, white box", flush=True)
    wb = lineage_whitebox(info, run, run / "prompts_whitebox.jsonl", args.permutations, args.wb_tokens)
    nulls = null_checks(info, run, run / "prompts_whitebox.jsonl", args.permutations, args.wb_tokens)
    kv = kv_timing(models["t0"], [p[:PROMPT] for p in prompts[:64]], args.wb_tokens)
    best = max(a["classifiers"], key=lambda k: a["classifiers"][k]["accuracy"]["rate"])
    a.pop("config", None)
    res = {"setup": {"steps": args.steps, "answers": args.answers, "answer_tokens": args.answer_tokens,
                     "sft_texts": args.sft_texts, "seeds": args.seeds, "distilled": args.distilled,
                     "students": students(info), "wb_prompts": args.wb_prompts, "wb_tokens": args.wb_tokens,
                     "permutations": args.permutations, "vocab": len(tok), "threads": torch.get_num_threads(),
                     "params": sum(p.numel() for p in models["t0"].parameters()),
                     "command": "OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/provenance_zoo.py"
                                + (" --quick" if args.quick else ""), "best_classifier": best},
           "models": info, "collection": col, "attribution": a, "lineage_black_box": bb, "lineage_white_box": wb,
           "teacher_vs_teacher_nulls": nulls, "lineage_summary": summarize(bb, wb, nulls), "kv_cache": kv,
           "seconds": round(time.perf_counter() - t0, 1)}
    atomic_json(args.out + ".json", res)
    md = markdown(res)
    atomic_text(args.out + ".md", md)
    shutil.copy(run / "attribution" / f"confusion_{best}.png", args.out + "_confusion.png")
    print(md)


if __name__ == "__main__":
    main()
