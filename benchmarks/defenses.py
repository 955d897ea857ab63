"""Defenses at the source, measured at the scale of a shared 2-core CPU: green-list watermark detection
with its perplexity cost, and radioactivity of students fine-tuned on partly watermarked teacher text.

Everything is built here, offline (the default run: about an hour on 2 cores; ``--quick``: about 1):

- corpus: Python's own documentation topics (``pydoc_data.topics``, stdlib), split 90/10;
- tokenizer: byte-level BPE, ``--vocab`` (2048) tokens, trained on the training split (a larger vocabulary
  gives more distinct (window, token) tuples to score; 4096 repeats each window too rarely for the student);
- teacher: a 2-layer Llama (hidden ``--teacher-hidden``, 64) trained on the corpus for ``--teacher-steps`` steps;
- answers: the teacher continues 16-token prompts from the held-out split (100 new tokens, temperature 1,
  seeded), with the watermark (γ = 0.25, h = 1) at several δ;
- students: a 2-layer Llama (hidden 48) pretrained on the corpus, then fine-tuned (loss on the answers) on
  ``--ft-texts`` (10,000) teacher answers for ``--ft-epochs`` (3), of which a share ρ was watermarked
  (δ = ``--radio-delta``), the rest plain; ``--seeds`` (3) students per share, open mode on ``--test-texts``
  (4,000) fresh watermarked answers, closed mode on its continuations of ``--closed-texts`` (4,000) of their prompts.

Detection (part 1) scores each answer's 100 generated token ids with the key (each (window, token) pair once);
"detected at 1% FPR" is p < 0.01, checked against the measured rate on unwatermarked answers and human text.
Radioactivity (part 2) is `distill detect radioactivity`'s test (open mode on fresh watermarked answers and on
the watermarked answers the student was trained on; closed mode on the student's own continuations). Null runs:
every student tested with 20 keys it never saw, plus the ρ = 0 students with the real key.

Writes benchmarks/results/defenses.json and .md.

    OMP_NUM_THREADS=2 python benchmarks/defenses.py            # the figures in the README
    OMP_NUM_THREADS=2 python benchmarks/defenses.py --quick    # a smoke run (~1 min)
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from distill.files import atomic_json, atomic_text
from distill.watermark.detect import score_ids
from distill.watermark.greenlist import GreenList, WatermarkProcessor
from distill.watermark.keys import SecretKey
from distill.watermark.radioactivity import TupleFilter, open_predictions

ROOT = Path(__file__).resolve().parents[1]
PROMPT, ANSWER, GAMMA = 16, 100, 0.25
STUDENT_HIDDEN = 48


def corpus() -> tuple[str, str]:
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[k] for k in sorted(topics))
    cut = int(len(text) * 0.9)
    return text[:cut], text[cut:]


def make_tokenizer(text: str, vocab: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator([text[i:i + 2000] for i in range(0, len(text), 2000)],
                            trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<eos>"],
                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>")


def make_llama(vocab: int, hidden: int, layers: int, seed: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=2 * hidden,
                                        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                                        max_position_embeddings=256, eos_token_id=0, bos_token_id=0))


def train_lm(model, batches, lr: float, log_every: int = 0) -> float:
    """Plain next-token cross-entropy on (input ids, label ids) batches; labels −100 are not scored."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    n = len(batches)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 20) * (1 - s / max(n, 1)))
    model.train()
    loss = float("nan")
    for s, (x, y) in enumerate(batches):
        out = model(input_ids=x, labels=y)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step(), sched.step(), opt.zero_grad()
        loss = float(out.loss.detach())
        if log_every and s % log_every == 0:
            print(f"  step {s}/{n}: loss {loss:.3f}", flush=True)
    model.eval()
    return loss


def window_batches(ids: np.ndarray, steps: int, batch: int, length: int, seed: int):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        starts = rng.integers(0, len(ids) - length - 1, batch)
        x = torch.tensor(np.stack([ids[s:s + length] for s in starts]))
        out.append((x, x.clone()))
    return out


def prompts_from(ids: np.ndarray, n: int, seed: int) -> list[list[int]]:
    starts = np.random.default_rng(seed).integers(0, len(ids) - PROMPT - 1, n)
    return [ids[s:s + PROMPT].tolist() for s in starts]


def generate(model, prompts, processor=None, seed: int = 0, batch: int = 256, new: int = ANSWER) -> list[list[int]]:
    """Sampled continuations (temperature 1, no top-k), ``new`` tokens each (EOS suppressed)."""
    from transformers import LogitsProcessorList

    out = []
    for i in range(0, len(prompts), batch):
        torch.manual_seed(seed + i)
        x = torch.tensor(prompts[i:i + batch])  # all prompts have PROMPT tokens: no padding
        with torch.inference_mode():
            y = model.generate(x, attention_mask=torch.ones_like(x), do_sample=True, top_k=0, top_p=1.0,
                               temperature=1.0, max_new_tokens=new, min_new_tokens=new, pad_token_id=0,
                               logits_processor=LogitsProcessorList([processor]) if processor else None)
        out += [row[PROMPT:].tolist() for row in y]
    return out


def perplexity(model, prompts, answers) -> list[float]:
    """Per-answer perplexity under ``model`` (unwatermarked), conditioned on its prompt."""
    ppl = []
    for i in range(0, len(prompts), 64):
        x = torch.tensor([p + a for p, a in zip(prompts[i:i + 64], answers[i:i + 64], strict=True)])
        with torch.inference_mode():
            logp = model(input_ids=x).logits[:, :-1].float().log_softmax(-1)
        nll = -logp.gather(-1, x[:, 1:, None])[..., 0][:, PROMPT - 1:]  # the answer tokens only
        ppl += torch.exp(nll.mean(1)).tolist()
    return ppl


def detection_part(teacher, tok, held: np.ndarray, greenlist: GreenList, deltas, n: int, seed: int) -> dict:
    prompts = prompts_from(held, n, seed)
    human = [held[s:s + PROMPT + ANSWER].tolist() for s in
             np.random.default_rng(seed + 1).integers(0, len(held) - PROMPT - ANSWER, n)]
    rows = {}
    # human text: the answer part of held-out windows, scored from the prompt's last token on
    hs = [score_ids(h[PROMPT - 1:], greenlist) for h in human]
    rows["human"] = {"fpr_at_0.01": float(np.mean([s["p_value"] < 0.01 for s in hs])),
                     "ppl_median": float(np.median(perplexity(teacher, [h[:PROMPT] for h in human],
                                                              [h[PROMPT:] for h in human])))}
    for d in deltas:
        t = time.perf_counter()
        ans = generate(teacher, prompts, WatermarkProcessor(greenlist, d) if d else None, seed=seed)
        secs = time.perf_counter() - t
        sc = [score_ids(p[-1:] + a, greenlist) for p, a in zip(prompts, ans, strict=True)]
        ppl = perplexity(teacher, prompts, ans)
        z = np.array([s["z"] for s in sc])
        rows[str(d)] = {"delta": d, "texts": n, "detected_at_0.01": float(np.mean([s["p_value"] < 0.01 for s in sc])),
                        "z_median": float(np.median(z)), "z_p10": float(np.percentile(z, 10)),
                        "scored_median": float(np.median([s["scored"] for s in sc])),
                        "ppl_median": float(np.median(ppl)), "ppl_mean": float(np.mean(ppl)),
                        "generation_s": round(secs, 2)}
        print(f"  δ={d}: detected {rows[str(d)]['detected_at_0.01']:.3f}, median z {np.median(z):.2f}, "
              f"ppl {np.median(ppl):.2f} ({secs:.1f} s)", flush=True)
    return rows


def sft_batches(prompts, answers, epochs: int, batch: int, seed: int):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(epochs):
        order = rng.permutation(len(prompts))
        for i in range(0, len(order) - batch + 1, batch):
            idx = order[i:i + batch]
            x = torch.tensor([prompts[j] + answers[j] for j in idx])
            y = x.clone()
            y[:, :PROMPT] = -100  # loss on the answers only
            out.append((x, y))
    return out


def radioactivity_part(args, teacher, base_state, vocab, train_ids, held, greenlist, keys_null) -> dict:
    n_ft, h = args.ft_texts, greenlist.context
    wm_proc = WatermarkProcessor(greenlist, args.radio_delta, cache=4096)
    t = time.perf_counter()
    pool_prompts = prompts_from(train_ids, 2 * n_ft, args.seed + 10)
    plain = generate(teacher, pool_prompts[:n_ft], None, seed=args.seed + 11)
    n_wm_max = int(round(max(args.shares) * n_ft))
    wm_prompts = pool_prompts[n_ft:n_ft + n_wm_max]
    marked = generate(teacher, wm_prompts, wm_proc, seed=args.seed + 12)
    test_prompts = prompts_from(held, args.test_texts, args.seed + 13)
    fresh = generate(teacher, test_prompts, wm_proc, seed=args.seed + 14)
    fresh_ids = [p + a for p, a in zip(test_prompts, fresh, strict=True)]
    print(f"  teacher answers: {n_ft:,} plain, {n_wm_max:,} + {args.test_texts:,} watermarked "
          f"({time.perf_counter() - t:.0f} s)", flush=True)
    runs = []
    null_p = []
    for share in args.shares:
        for s in range(args.seeds):
            t0 = time.perf_counter()
            k = int(round(share * n_ft))
            rng = np.random.default_rng(1000 * s + int(share * 1000))
            wm_idx = rng.permutation(n_wm_max)[:k] if k else np.array([], dtype=int)
            prompts = [wm_prompts[i] for i in wm_idx] + pool_prompts[k:n_ft]
            answers = [marked[i] for i in wm_idx] + plain[k:n_ft]
            student = make_llama(vocab, STUDENT_HIDDEN, 2, seed=s)
            student.load_state_dict(base_state[s])
            train_lm(student, sft_batches(prompts, answers, args.ft_epochs, 16, seed=s), lr=args.ft_lr)
            # open mode: predictions once per student; the filters do not depend on the key
            filt_fresh = TupleFilter(h)
            for ids, pred in zip(fresh_ids, open_predictions(student, fresh_ids, tokens_per_batch=16384), strict=True):
                filt_fresh.add(ids, pred)
            filt_train = TupleFilter(h)
            train_ids_wm = [wm_prompts[i] + marked[i] for i in wm_idx[:args.test_texts]]
            for ids, pred in zip(train_ids_wm, open_predictions(student, train_ids_wm, tokens_per_batch=16384), strict=True):
                filt_train.add(ids, pred)
            closed = TupleFilter(h)
            closed_prompts = test_prompts[:args.closed_texts]
            gens = generate(student, closed_prompts, None, seed=args.seed + 100 + s, new=args.closed_tokens)
            for p, g in zip(closed_prompts, gens, strict=True):
                closed.add(p + g, [None] * PROMPT + g)
            row = {"share": share, "seed": s, "watermarked_texts": k,
                   "open_fresh": filt_fresh.test(greenlist), "closed": closed.test(greenlist),
                   "open_train": filt_train.test(greenlist) if k else None}
            row["null_open_fresh_other_keys"] = [filt_fresh.test(g)["p_value_exact"] for g in keys_null]
            null_p += row["null_open_fresh_other_keys"]
            null_p += [closed.test(g)["p_value_exact"] for g in keys_null[:5]]
            row["seconds"] = round(time.perf_counter() - t0, 1)
            runs.append(row)
            print(f"  ρ={share:.0%} seed {s}: open(fresh) p={row['open_fresh']['p_value_exact']:.2e} "
                  f"(N={row['open_fresh']['scored']}, green {row['open_fresh']['green_share']}), "
                  f"closed p={row['closed']['p_value_exact']:.2e} (N={row['closed']['scored']})"
                  + (f", open(train) p={row['open_train']['p_value_exact']:.2e}" if k else "")
                  + f" [{row['seconds']} s]", flush=True)
    from scipy import stats as sps

    true_key_null = [r["open_fresh"]["p_value_exact"] for r in runs if r["share"] == 0]
    true_key_null += [r["closed"]["p_value_exact"] for r in runs if r["share"] == 0]
    return {"runs": runs, "null": null_summary(runs) | {
                                   "p_values": len(null_p), "ks_uniform_p": float(sps.kstest(null_p, "uniform").pvalue),
                                   "share_below_0.05": float(np.mean(np.array(null_p) < 0.05)),
                                   "share_below_0.01": float(np.mean(np.array(null_p) < 0.01)),
                                   "true_key_share0": true_key_null}}


def null_summary(runs: list[dict]) -> dict:
    """KS test of each student's p-values under the 20 keys it never saw. (The same keys serve every student and
    the students score nearly the same tuples, so p-values pooled over students are not independent: a KS over the
    pool would be invalid.)"""
    from scipy import stats as sps

    ks = [float(sps.kstest(r["null_open_fresh_other_keys"], "uniform").pvalue) for r in runs]
    return {"ks_per_student": [round(k, 3) for k in ks], "ks_per_student_min": round(min(ks), 3),
            "ks_per_student_above_0.05": sum(k > 0.05 for k in ks), "students": len(ks)}


def summarize(radio: dict, shares, seeds: int) -> list[dict]:
    out = []
    for share in shares:
        rs = [r for r in radio["runs"] if r["share"] == share]

        def logp(key):
            v = [math.log10(max(r[key]["p_value_exact"], 1e-300)) for r in rs if r[key]]
            return (round(float(np.median(v)), 2), round(float(min(v)), 2), round(float(max(v)), 2)) if v else None

        out.append({"share": share, "seeds": seeds, "log10_p_open_fresh": logp("open_fresh"),
                    "log10_p_open_train": logp("open_train"), "log10_p_closed": logp("closed"),
                    "green_share_open_fresh": round(float(np.mean([r["open_fresh"]["green_share"] for r in rs])), 4),
                    "scored_open_fresh": int(np.median([r["open_fresh"]["scored"] for r in rs])),
                    "scored_open_train": int(np.median([r["open_train"]["scored"] for r in rs])) if rs[0]["open_train"]
                    else None, "scored_closed": int(np.median([r["closed"]["scored"] for r in rs]))})
    return out


def markdown(res: dict) -> str:
    a = res["setup"]
    lines = ["# Defenses at the source (benchmarks/defenses.py)", "",
             f"Teacher: 2-layer Llama (hidden {a['teacher_hidden']}, {a['teacher_params']:,} parameters) trained here for "
             f"{a['teacher_steps']} steps on Python's documentation topics (held-out perplexity "
             f"{a['teacher_heldout_ppl']:.1f}); BPE vocabulary {a['vocab']}; γ = {GAMMA}, h = 1. Not SmolLM2: "
             "its generation (~20 tokens/s here) would not fit the CPU budget. Seed "
             f"{a['seed']}; {a['seconds']:.0f} s in all.", "",
             f"## Watermark detection: {a['detect_texts']} answers of {ANSWER} tokens per δ (p < 0.01)", "",
             "| δ | detected at 1% FPR | median z | 10th pct z | median pairs scored | teacher ppl (median) |",
             "|---|---|---|---|---|---|"]
    for k, r in res["detection"].items():
        if k == "human":
            continue
        lines.append(f"| {r['delta']} | {r['detected_at_0.01']:.1%} | {r['z_median']:.2f} | {r['z_p10']:.2f} | "
                     f"{r['scored_median']:.0f} | {r['ppl_median']:.2f} |")
    h = res["detection"]["human"]
    lines += ["", f"Human held-out text (100 tokens): {h['fpr_at_0.01']:.1%} flagged at p < 0.01; teacher "
              f"perplexity {h['ppl_median']:.2f}. δ = 0 is unwatermarked teacher output (its detection rate is the "
              "false-positive rate).", "",
              f"## Radioactivity: students fine-tuned on {a['ft_texts']:,} teacher answers, a share ρ watermarked "
              f"(δ = {a['radio_delta']}, h = {a.get('radio_context', 1)}), {a['seeds']} seeds", "",
              f"Fine-tuning: {a['ft_epochs']} epochs, lr {a.get('ft_lr', 2e-3)}, batch 16, loss on the answers.", "",
              "log10 p-value, median [min, max] over seeds. *fresh*: open mode on "
              f"{a['test_texts']} watermarked answers the student never saw; *train*: on (up to {a['test_texts']}) "
              "of the watermarked answers it was trained on; *closed*: its own continuations "
              f"({a['closed_tokens']} tokens) of {a.get('closed_texts', a['test_texts'])} of those prompts.", "",
              "| ρ | open, fresh | open, train | closed | green share (fresh) | tuples scored (fresh, train, closed) |",
              "|---|---|---|---|---|---|"]
    fmt = lambda v: "–" if v is None else f"{v[0]} [{v[1]}, {v[2]}]"  # noqa: E731
    for r in res["radioactivity_summary"]:
        lines.append(f"| {r['share']:.0%} | {fmt(r['log10_p_open_fresh'])} | {fmt(r['log10_p_open_train'])} | "
                     f"{fmt(r['log10_p_closed'])} | {r['green_share_open_fresh']} | "
                     f"{r['scored_open_fresh']:,}, {r.get('scored_open_train') or 0:,}, {r.get('scored_closed', 0):,} |")
    n = res["radioactivity"]["null"]
    lines += ["", f"Null, per student (open mode, fresh texts, {len(res['radioactivity']['runs'][0]['null_open_fresh_other_keys'])} "
              f"keys it never saw): KS p > 0.05 for {n['ks_per_student_above_0.05']} of {n['students']} students "
              f"(smallest KS p = {n['ks_per_student_min']}). Pooled over students (not independent: same keys, nearly "
              f"the same tuples) {n['p_values']} p-values give KS p = {n['ks_uniform_p']:.3f} with "
              f"{n['share_below_0.05']:.1%} below 0.05 — conservative, not anti-conservative. ρ = 0 students with "
              "the real key (open, closed): " + ", ".join(f"{p:.2f}" for p in n["true_key_share0"]) + "."]
    if "antidistill" in res:
        lines += ["", antidistill_markdown(res["antidistill"]).rstrip("\n")]
    return "\n".join(lines) + "\n"


def antidistill_markdown(ad: dict) -> str:
    """The antidistillation section (written by benchmarks/antidistill.py) as markdown.

    Args:
        ad: the "antidistill" entry of defenses.json.

    Returns:
        Markdown text.
    """
    a = ad["setup"]
    pm = lambda r, k: f"{100 * r[k + '_mean']:.1f} ± {100 * r[k + '_std']:.1f}"  # noqa: E731
    lines = [f"## Antidistillation trade-off (benchmarks/antidistill.py, {a['seeds']} seeds, mean ± sd)", "",
             f"Task: {a['task']}. Teacher: 2-layer Llama (hidden {a['teacher_hidden']}) trained on "
             f"{a['teacher_pairs']} pairs ({a['teacher_steps']} steps; greedy held-out accuracy "
             f"{100 * a['teacher_greedy_test_acc']:.1f}%). Proxy: hidden {a['proxy_hidden']} ({a['proxy_steps']} "
             f"steps, greedy {100 * a['proxy_greedy_test_acc']:.1f}%), L = its trace loss on {a['downstream_pairs']} "
             f"held-out pairs. Target student: hidden {a['student_hidden']}, trained from scratch for "
             f"{a['student_steps']} steps on one sampled teacher trace per {a['distill_prompts']} prompts; accuracy "
             f"greedy on {a['test_pairs']} test pairs. Teacher accuracy: share of its sampled traces with the right "
             f"sum. {a['seconds']:.0f} s in all.", "",
             "| sampling | teacher accuracy (%) | student accuracy (%) | student min–max (%) |", "|---|---|---|---|"]
    for key, name in (("lam", "λ = {:g} (T = 1)"), ("temperature", "T = {:g} (λ = 0)")):
        for r in ad[f"curve_{key}"]:
            lines.append(f"| {name.format(r[key])} | {pm(r, 'teacher_acc')} | {pm(r, 'student_acc')} | "
                         f"{100 * r['student_acc_min']:.1f}–{100 * r['student_acc_max']:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--vocab", type=int, default=2048)
    ap.add_argument("--teacher-hidden", type=int, default=64)
    ap.add_argument("--teacher-steps", type=int, default=250)
    ap.add_argument("--detect-texts", type=int, default=200)
    ap.add_argument("--deltas", type=float, nargs="+", default=[0.0, 1.0, 2.0, 4.0])
    ap.add_argument("--ft-texts", type=int, default=10000)
    ap.add_argument("--ft-epochs", type=int, default=3)
    ap.add_argument("--ft-lr", type=float, default=2e-3)
    ap.add_argument("--radio-delta", type=float, default=4.0)
    ap.add_argument("--radio-context", type=int, default=1,
                    help="h of the radioactivity watermark (the same h watermarks and detects)")
    ap.add_argument("--shares", type=float, nargs="+", default=[0.0, 0.01, 0.05, 0.1, 0.5])
    ap.add_argument("--seeds", type=int, default=3)
    # the defender makes as many watermarked texts as it likes to query a suspect with: more texts, more distinct
    # (window, prediction) tuples, more power (4,000 texts: ~9,000 tuples; 16,000: ~12,200)
    ap.add_argument("--test-texts", type=int, default=4000)
    ap.add_argument("--closed-texts", type=int, default=4000, help="prompts the student continues in closed mode")
    ap.add_argument("--closed-tokens", type=int, default=32)
    ap.add_argument("--null-keys", type=int, default=20)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "defenses"))
    args = ap.parse_args()
    if args.quick:
        args.teacher_steps, args.detect_texts, args.ft_texts, args.seeds, args.test_texts = 20, 16, 64, 1, 16
        args.shares, args.out = [0.0, 0.5], args.out + "_quick"
    t0 = time.perf_counter()
    train_text, held_text = corpus()
    tok = make_tokenizer(train_text, args.vocab)
    train_ids = np.array(tok(train_text)["input_ids"])
    held = np.array(tok(held_text)["input_ids"])
    vocab = len(tok)
    print(f"corpus: {len(train_ids):,} / {len(held):,} tokens, vocab {vocab}", flush=True)
    teacher = make_llama(vocab, args.teacher_hidden, 2, seed=args.seed)
    train_lm(teacher, window_batches(train_ids, args.teacher_steps, 16, 64, args.seed), lr=3e-3, log_every=50)
    held_b = window_batches(held, 8, 16, 64, args.seed + 1)
    with torch.inference_mode():
        ppl = math.exp(np.mean([float(teacher(input_ids=x, labels=y).loss) for x, y in held_b]))
    print(f"teacher: held-out perplexity {ppl:.1f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    greenlist = GreenList(SecretKey(b"benchmark key: published so the run can be checked"), GAMMA, 1)
    print("part 1: detection", flush=True)
    detection = detection_part(teacher, tok, held, greenlist, args.deltas, args.detect_texts, args.seed)
    print("part 2: radioactivity", flush=True)
    base_state = {}
    for s in range(args.seeds):  # pretrained student bases, one per seed
        st = make_llama(vocab, STUDENT_HIDDEN, 2, seed=s)
        train_lm(st, window_batches(train_ids, args.teacher_steps // 2, 16, 64, 100 + s), lr=3e-3)
        base_state[s] = {k: v.clone() for k, v in st.state_dict().items()}
    radio_gl = GreenList(SecretKey(b"benchmark key: published so the run can be checked"), GAMMA, args.radio_context)
    keys_null = [GreenList(SecretKey(f"null key {i}".encode()), GAMMA, args.radio_context)
                 for i in range(args.null_keys)]
    radio = radioactivity_part(args, teacher, base_state, vocab, train_ids, held, radio_gl, keys_null)
    res = {"setup": {"seed": args.seed, "teacher_steps": args.teacher_steps, "teacher_heldout_ppl": ppl,
                     "teacher_params": sum(p.numel() for p in teacher.parameters()), "vocab": vocab,
                     "teacher_hidden": args.teacher_hidden, "student_hidden": STUDENT_HIDDEN,
                     "detect_texts": args.detect_texts, "ft_texts": args.ft_texts, "ft_epochs": args.ft_epochs,
                     "radio_delta": args.radio_delta, "seeds": args.seeds, "test_texts": args.test_texts,
                     "closed_tokens": args.closed_tokens, "closed_texts": min(args.closed_texts, args.test_texts), "gamma": GAMMA, "context": 1,
                     "radio_context": args.radio_context, "ft_lr": args.ft_lr,
                     "threads": torch.get_num_threads(), "seconds": time.perf_counter() - t0,
                     "command": "OMP_NUM_THREADS=2 python " + " ".join(["benchmarks/defenses.py", *sys.argv[1:]])},
           "detection": detection, "radioactivity": radio,
           "radioactivity_summary": summarize(radio, args.shares, args.seeds)}
    write(res, args.out)


def write(res: dict, out: str) -> None:
    prev = Path(out + ".json")
    if "antidistill" not in res and prev.exists():  # benchmarks/antidistill.py's section is kept
        old = json.loads(prev.read_text())
        if "antidistill" in old:
            res["antidistill"] = old["antidistill"]
    md = markdown(res)
    print(md)
    atomic_json(out + ".json", res)
    atomic_text(out + ".md", md)


if __name__ == "__main__":
    main()
