"""Cross-tokenizer distillation, measured: Gemma 3 270M (vocabulary 262,144) teaching a SmolLM2-based student
(49,152) — ULD and hybrid against black-box SFT on the same teacher text, and against no teacher.

Arms (all train the same student for the same steps × batch × window, so equal student tokens):

* ``ce``: no teacher — cross-entropy on the human corpus (pydoc_data topics, the training split).
* ``sft``: black-box SFT — cross-entropy on text Gemma *generated* (continuations of corpus prompts,
  sampled once at T = 1, batched, cached on disk).
* ``uld`` / ``hybrid``: the same Gemma text, ``distill lm train --cross-tokenizer uld|hybrid``,
  ``(1 − w) · D + w · CE`` with w = ``--ce-weight``. By default Gemma runs once: ``distill lm capture
  --targets-kind cross --student ...`` keeps its top ``--top-k`` per Gemma token (and the tail mass) over
  the student's windows, and every arm and seed trains from that store (``--teacher live``: Gemma's
  logits at every step instead, the exact losses, ~10× slower).

Score: bits per byte (total −log₂ p of the predicted tokens over their UTF-8 bytes; tokenizer-independent)
on held-out human text (pydoc topics never trained on) and on held-out Gemma text (continuations of
held-out prompts). Student: SmolLM2-135M cut to its first 2 layers (``distill lm student --layers
first-2``: SmolLM2's architecture, tokenizer and embeddings, 35M parameters), sized for a shared 2-core CPU.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/cross_tokenizer.py            # ~30 min, 2 cores
    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/cross_tokenizer.py --quick    # one seed, few steps
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results"
CACHE = Path(tempfile.gettempdir()) / "distill_cross_tokenizer"
ARMS = ("ce", "sft", "uld", "hybrid")


def _prompts(text: str, tok, n: int, prompt_tokens: int) -> list[str]:
    """The first ``prompt_tokens`` teacher tokens of the corpus's paragraphs (≥ 200 characters), n of them,
    spread evenly over the corpus."""
    paras = [p.strip() for p in text.split("\n\n") if len(p.strip()) >= 200]
    step = max(1, len(paras) // n)
    out = []
    for p in paras[::step][:n]:
        ids = tok(p, add_special_tokens=False)["input_ids"][:prompt_tokens]
        out.append(tok.decode(ids))
    return out


@torch.no_grad()
def generate_teacher_text(prompts: list[str], path: Path, new_tokens: int, seed: int, batch: int = 16) -> Path:
    """Gemma's sampled continuations (T = 1, top-p 0.95) of ``prompts`` as JSONL {"text": prompt + continuation},
    written once (cached at ``path``)."""
    if path.exists():
        return path
    from distill.files import atomic_text
    from distill.lm.models import load_model, load_tokenizer

    tok, model = load_tokenizer("gemma3-270m"), load_model("gemma3-270m")
    tok.padding_side = "left"
    torch.manual_seed(seed)
    rows = []
    for b in range(0, len(prompts), batch):
        chunk = prompts[b : b + batch]
        enc = tok(chunk, return_tensors="pt", padding=True)
        gen = model.generate(**enc, max_new_tokens=new_tokens, do_sample=True, temperature=1.0, top_p=0.95,
                             top_k=0, pad_token_id=tok.pad_token_id)
        for p, g in zip(chunk, gen[:, enc["input_ids"].shape[1]:], strict=True):
            rows.append(json.dumps({"text": p + tok.decode(g, skip_special_tokens=True)}))
        print(f"  generated {len(rows)}/{len(prompts)} teacher texts", flush=True)
    atomic_text(path, "\n".join(rows) + "\n")
    return path


def held_out_bpb(model_dir: str, corpora: dict[str, Path], window: int, n_windows: int) -> dict[str, float]:
    """Bits per byte of the model on each held-out corpus (its first ``n_windows`` windows)."""
    from distill.experiments.weak_teacher import bits_per_byte, token_bytes
    from distill.lm.corpus import pack_windows
    from distill.lm.models import load_model, load_tokenizer

    tok, model = load_tokenizer(model_dir), load_model(model_dir)
    nbytes = token_bytes(tok)
    return {name: bits_per_byte(model, pack_windows(p, tok, window, n_windows), nbytes, batch_size=8)
            for name, p in corpora.items()}


@torch.no_grad()
def store_fidelity(store: Path, student_dir: str, n_windows: int = 8) -> dict:
    """The stored losses against the live ones on the store's first windows, for the untrained student:
    how much of ULD / hybrid the top-k store keeps (1.0: all)."""
    from distill.lm.crosstrain import batch, cross_loss, cross_loss_stored, vocab_pairs
    from distill.lm.models import load_model, load_tokenizer
    from distill.targets.store import TargetStore

    st = TargetStore(store)
    got = [st[i] for i in range(min(n_windows, len(st)))]
    windows, targets = [w for w, _ in got], [t for _, t in got]
    s_tok, t_tok = load_tokenizer(student_dir), load_tokenizer("gemma3-270m")
    student, teacher = load_model(student_dir), load_model("gemma3-270m")
    pad = t_tok.pad_token_id if t_tok.pad_token_id is not None else 0
    s_ids, t_ids = batch(windows, pad)
    zs = student(s_ids, use_cache=False).logits[..., : len(s_tok)].float()
    zt = teacher(t_ids, use_cache=False).logits[..., : len(t_tok)].float()
    vocab = vocab_pairs(s_tok, t_tok)
    out = {"windows": len(windows), "k": st.manifest.k}
    for kind in ("uld", "hybrid"):
        v = vocab if kind == "hybrid" else None
        live = cross_loss(kind, zs, zt, windows, v, 1.0).item()
        kept = cross_loss_stored(kind, zs, windows, targets, v, 1.0).item()
        out[kind] = {"live": live, "stored": kept, "ratio": kept / live}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--ce-weight", type=float, default=0.5)
    ap.add_argument("--teacher-texts", type=int, default=64, help="prompts Gemma continues (train)")
    ap.add_argument("--held-texts", type=int, default=16, help="prompts Gemma continues (held out)")
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--eval-windows", type=int, default=24)
    ap.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS)
    ap.add_argument("--teacher", choices=("store", "live"), default="store",
                    help="uld/hybrid from a cross store captured once (default) or Gemma's live logits")
    ap.add_argument("--top-k", type=int, default=64, help="store: Gemma tokens kept per position (capture's default)")
    ap.add_argument("--quick", action="store_true", help="one seed, 4 steps (a smoke run; not for figures)")
    args = ap.parse_args()
    if args.quick:
        args.seeds, args.steps, args.teacher_texts, args.held_texts, args.new_tokens = [0], 4, 8, 4, 48
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.WARNING)
    from distill.lm.models import load_tokenizer
    from distill.lm.quickstart import pydoc_corpus
    from distill.lm.student import build_student
    from distill.lm.train import LMTrainConfig
    from distill.lm.train import run as train

    t_start = time.time()
    work = CACHE / ("quick" if args.quick else "full")
    train_txt, held_txt = pydoc_corpus(work / "pydoc")
    g_tok = load_tokenizer("gemma3-270m")
    prompts = _prompts(train_txt.read_text(), g_tok, args.teacher_texts, 24)
    held_prompts = _prompts(held_txt.read_text(), g_tok, args.held_texts, 24)
    t0 = time.time()
    gemma_train = generate_teacher_text(prompts, work / f"gemma_train_{len(prompts)}x{args.new_tokens}.jsonl",
                                        args.new_tokens, seed=1234)
    gemma_held = generate_teacher_text(held_prompts, work / f"gemma_held_{len(held_prompts)}x{args.new_tokens}.jsonl",
                                       args.new_tokens, seed=4321)
    gen_s = time.time() - t0
    student0 = work / "student_first2"
    if not (student0 / "config.json").exists():
        build_student("smollm2", "first-2", student0)
    held = {"human": held_txt, "gemma": gemma_held}
    store, capture_s, store_info = None, 0.0, {}
    if args.teacher == "store" and {"uld", "hybrid"} & set(args.arms):
        from distill.lm.capture import CaptureConfig
        from distill.lm.capture import run as capture

        store = work / f"gemma_store_k{args.top_k}_w{args.window}_{len(prompts)}x{args.new_tokens}"
        t0 = time.time()
        store_info = dict(capture(CaptureConfig(teacher="gemma3-270m", data=str(gemma_train), targets_kind="cross",
                                           student=str(student0), top_k=args.top_k, window=args.window,
                                           out=str(store))))
        capture_s = time.time() - t0
        print(f"cross store: {store_info} ({capture_s:.0f} s; reused when it exists)", flush=True)
        store_info["fidelity"] = store_fidelity(store, str(student0))
        print(f"stored vs live loss of the untrained student: {store_info['fidelity']}", flush=True)
    runs: list[dict] = []
    base = held_out_bpb(str(student0), held, args.window, args.eval_windows)
    print(f"untrained student: {base}", flush=True)
    for seed in args.seeds:
        for arm in args.arms:
            t0 = time.time()
            out = work / f"run_{arm}_{seed}"
            teacher_arm = arm in ("uld", "hybrid")
            from_store = teacher_arm and store is not None
            cfg = LMTrainConfig(
                student=str(student0), data="" if from_store else str(train_txt if arm == "ce" else gemma_train),
                targets=(str(store),) if from_store else (),
                teacher="gemma3-270m", loss="forward_kl" if teacher_arm else "ce",
                cross_tokenizer=arm if teacher_arm else "none", ce_weight=args.ce_weight if teacher_arm else 0.0,
                window=args.window, batch_size=args.batch_size, steps=args.steps, lr=args.lr, warmup=3,
                seed=seed, out=str(out), checkpoint_every=0, tensorboard=False, eval_every=0)
            shutil.rmtree(out, ignore_errors=True)  # a fresh run, never a resumed one
            res = train(cfg)
            bpb = held_out_bpb(res["model"], held, args.window, args.eval_windows)
            row = {"arm": arm, "seed": seed, "bpb_human": bpb["human"], "bpb_gemma": bpb["gemma"],
                   "student_tokens": args.steps * args.batch_size * args.window,
                   "last_loss": res.get("last_loss"),
                   "seconds": round(time.time() - t0, 1)}
            runs.append(row)
            print(f"  {arm:6s} seed {seed}: held-out bits/byte human {bpb['human']:.4f}, gemma {bpb['gemma']:.4f} "
                  f"({row['seconds']:.0f} s)", flush=True)
    summary = {}
    for arm in args.arms:
        rows = [r for r in runs if r["arm"] == arm]
        summary[arm] = {}
        for key in ("bpb_human", "bpb_gemma"):
            v = [r[key] for r in rows]
            summary[arm][key] = {"mean": statistics.mean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0}
    result = {
        "benchmark": "cross_tokenizer", "teacher": "gemma3-270m (embedded, vocabulary 262,144)",
        "student": "SmolLM2-135M first-2 layers (vocabulary 49,152, 35.4M parameters)",
        "settings": {k: v for k, v in vars(args).items()}, "untrained_student": base,
        "teacher_text_seconds": round(gen_s, 1), "capture_seconds": round(capture_s, 1), "store": store_info,
        "runs": runs, "summary": summary,
        "total_seconds": round(time.time() - t_start, 1),
    }
    md = markdown(result)
    print(md)
    if not args.quick:
        from distill.files import atomic_json, atomic_text

        atomic_json(RESULTS / "cross_tokenizer.json", result)
        atomic_text(RESULTS / "cross_tokenizer.md", md)


def _fidelity(store: dict) -> str:
    f = store.get("fidelity")
    if not f:
        return ""
    return (f"; on its first {f['windows']} windows the untrained student's stored losses are "
            f"{f['uld']['ratio']:.3f}× (uld) and {f['hybrid']['ratio']:.3f}× (hybrid) the live ones")


def markdown(res: dict) -> str:
    """The results as a markdown table (mean ± std over seeds; lower is better)."""
    s = res["settings"]
    lines = [
        "# Cross-tokenizer distillation: Gemma 3 270M → SmolLM2-based student",
        "",
        f"Student {res['student']}; teacher {res['teacher']}. {len(s['seeds'])} seeds ({s['seeds']}), "
        f"{s['steps']} steps × {s['batch_size']} windows × {s['window']} student tokens = "
        f"{s['steps'] * s['batch_size'] * s['window']:,} student tokens per run, lr {s['lr']}; "
        f"uld/hybrid: (1 − {s['ce_weight']}) · D + {s['ce_weight']} · CE. Held-out bits per byte "
        f"(first {s['eval_windows']} windows of {s['window']} tokens), mean ± std over seeds; lower is better.",
        "",
        "| arm | training text | held-out human text (pydoc) | held-out Gemma text |",
        "|---|---|---|---|",
        f"| untrained student | — | {res['untrained_student']['human']:.4f} | {res['untrained_student']['gemma']:.4f} |",
    ]
    source = (f"top-{s['top_k']} store" if s.get("teacher", "live") == "store" else "live logits")
    text = {"ce": "pydoc (human), CE only", "sft": "Gemma generated, CE (black-box SFT)",
            "uld": f"Gemma generated, ULD + CE ({source})", "hybrid": f"Gemma generated, hybrid + CE ({source})"}
    for arm, v in res["summary"].items():
        lines.append(f"| {arm} | {text[arm]} | {v['bpb_human']['mean']:.4f} ± {v['bpb_human']['std']:.4f} | "
                     f"{v['bpb_gemma']['mean']:.4f} ± {v['bpb_gemma']['std']:.4f} |")
    lines += ["", f"Teacher text sampled once ({s['teacher_texts']} train + {s['held_texts']} held-out prompts × "
              f"{s['new_tokens']} new tokens, T = 1, top-p 0.95) in {res['teacher_text_seconds']:.0f} s"
              + (f"; Gemma's top-{s['top_k']} captured once over the student's windows in "
                 f"{res['capture_seconds']:.0f} s ({res['store'].get('bytes_per_token', 0)} bytes per student token)"
                 + _fidelity(res["store"]) if res.get("store") else "")
              + f"; whole benchmark {res['total_seconds'] / 60:.1f} min."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
