"""Benchmark: `distill lm train` against TRL's GKDTrainer, side by side in one process.

Setup (issue 3): the embedded SmolLM2-135M-Instruct teacher, live; a small student with the
teacher's vocabulary (a 2-layer Llama, hidden 64: 6.4M parameters, almost all of it the
49,152-row embedding and output layer) and SmolLM2's tokenizer; windows of 256 tokens of
Python's pydoc_data topics; batch 4; generalized JSD with β = 0.5; AdamW; 8 optimizer steps.
On-policy (λ = 1) both trainers let the student continue the first 128 tokens of each window
by --max-new-tokens sampled tokens (temperature 1) and train on those tokens only.

Variants, run one after the other in this process (--rounds repeats the sequence, every
other round in reverse order):
  trl λ=0, distill λ=0 (live teacher), distill on stored top-64 targets, trl λ=1, distill λ=1.
Reported: CPU seconds of this process per optimizer step (run with OMP_NUM_THREADS=1 on a
shared machine, where wall-clock time mostly measures the neighbours; median over steps 2..8, i.e. without the first step's
warm-up, and over rounds) and steps/s relative to TRL. Targets: ≥ 1.5× TRL's steps/s with a
live teacher, ≥ 3× with stored targets. The stored targets' one-off capture is timed apart.

    TRL_EXPERIMENTAL_SILENCE=1 nice -n 19 python benchmarks/lm_vs_trl.py [--steps 8] [--rounds 1]
"""

import argparse
import csv
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
RESULTS = Path(__file__).parent / "results"


def make_student(path: Path, teacher: str) -> int:
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(teacher)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=49152, hidden_size=64, intermediate_size=256, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
                      tie_word_embeddings=False, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    model = LlamaForCausalLM(cfg)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return sum(p.numel() for p in model.parameters())


def run_trl(teacher: str, student: str, windows: torch.Tensor, lmbda: float, args, out: Path) -> list[float]:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl.experimental.gkd import GKDConfig, GKDTrainer

    tok = AutoTokenizer.from_pretrained(student)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    half = windows.shape[1] // 2

    def collate(items):  # the same windows as distill: all positions count off-policy; prompts = first half
        x = windows[torch.tensor([it["idx"] for it in items])]
        return {"input_ids": x, "attention_mask": torch.ones_like(x), "labels": x.clone(),
                "prompts": x[:, :half], "prompt_attention_mask": torch.ones_like(x[:, :half])}

    times, t0 = [], [0.0]

    class Timer(TrainerCallback):  # CPU seconds of the optimizer step, as distill's metrics.csv cpu_seconds
        def on_step_begin(self, *a, **k):
            t0[0] = time.process_time()

        def on_step_end(self, *a, **k):
            times.append(time.process_time() - t0[0])

    cfg = GKDConfig(output_dir=str(out), per_device_train_batch_size=args.batch_size, max_steps=args.steps,
                    learning_rate=1e-4, lr_scheduler_type="constant", warmup_steps=0, lmbda=lmbda, beta=0.5,
                    temperature=1.0, max_new_tokens=args.max_new_tokens, save_strategy="no", report_to="none",
                    logging_steps=1, use_cpu=True, dataloader_num_workers=0, seed=0, max_length=windows.shape[1],
                    disable_tqdm=True)
    trainer = GKDTrainer(model=AutoModelForCausalLM.from_pretrained(student),
                         teacher_model=AutoModelForCausalLM.from_pretrained(teacher), args=cfg,
                         train_dataset=Dataset.from_dict({"idx": list(range(len(windows)))}),
                         processing_class=tok, data_collator=collate, callbacks=[Timer()])
    trainer.train()
    return times


def run_distill(teacher: str, student: str, data: str, lmbda: float, args, out: Path, targets=()) -> list[float]:
    from distill.lm.train import LMTrainConfig, run

    cfg = LMTrainConfig(teacher=teacher, student=student, data="" if targets else data, targets=targets,
                        window=args.window, max_windows=args.batch_size * args.steps, batch_size=args.batch_size,
                        steps=args.steps, lr=1e-4, warmup=0, loss="jsd", beta=0.5, lmbda=lmbda,
                        max_new_tokens=args.max_new_tokens, checkpoint_every=0, tensorboard=False, out=str(out))
    run(cfg)
    return [float(r["cpu_seconds"]) for r in csv.DictReader(open(out / "metrics.csv"))]


def main() -> None:
    from distill.lm.capture import CaptureConfig, capture
    from distill.lm.corpus import pack_windows
    from distill.lm.models import load_tokenizer, resolve
    from distill.lm.quickstart import pydoc_corpus

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", default="smollm2")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--window", type=int, default=256)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--only", nargs="*", help="run only these variants (names as in the results)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    train_txt, _ = pydoc_corpus(tmp / "corpus")
    teacher = resolve(args.teacher)
    student = tmp / "student"
    n_params = make_student(student, teacher)
    n = args.batch_size * args.steps
    windows = pack_windows(train_txt, load_tokenizer(str(student)), args.window, n)
    t0 = time.time()
    capture(CaptureConfig(teacher=teacher, data=str(train_txt), top_k=64, window=args.window, max_windows=n,
                          shard_windows=n, batch_size=args.batch_size, out=str(tmp / "store")))
    capture_s = time.time() - t0
    variants = {
        "trl_lambda0": lambda o: run_trl(teacher, str(student), windows, 0.0, args, o),
        "distill_lambda0_live": lambda o: run_distill(teacher, str(student), str(train_txt), 0.0, args, o),
        "distill_lambda0_stored": lambda o: run_distill(teacher, str(student), str(train_txt), 0.0, args, o,
                                                        targets=(str(tmp / "store"),)),
        "trl_lambda1": lambda o: run_trl(teacher, str(student), windows, 1.0, args, o),
        "distill_lambda1_live": lambda o: run_distill(teacher, str(student), str(train_txt), 1.0, args, o),
    }
    if args.only:
        variants = {k: v for k, v in variants.items() if k in args.only}
    steps = {k: [] for k in variants}
    loads, errors = [], {}
    from accelerate.state import AcceleratorState

    for r in range(args.rounds):
        order = list(variants) if r % 2 == 0 else list(variants)[::-1]  # ABBA: load drifts hit both alike
        for name in order:
            AcceleratorState._reset_state(True)  # each trainer sets up accelerate its own way
            try:
                ts = variants[name](tmp / f"{name}-{r}")
            except Exception as e:  # keep the other variants' figures; say what failed
                errors[name] = f"{type(e).__name__}: {e}"
                print(f"round {r} {name} failed: {errors[name]}", flush=True)
                continue
            steps[name].append([round(t, 3) for t in ts])
            loads.append(os.getloadavg()[0])
            print(f"round {r} {name}: median {statistics.median(ts[1:]):.2f} s/step  {ts}", flush=True)
    steps = {k: v for k, v in steps.items() if v}
    med = {k: statistics.median([t for rnd in v for t in rnd[1:]]) for k, v in steps.items()}
    speedup = {}
    for k in med:
        ref = "trl_lambda1" if "lambda1" in k else "trl_lambda0"
        if k.startswith("distill") and ref in med:
            speedup[k] = med[ref] / med[k]
    result = {"teacher": teacher, "student_parameters": n_params, "batch_size": args.batch_size,
              "window": args.window, "steps": args.steps, "rounds": args.rounds, "beta": 0.5,
              "max_new_tokens": args.max_new_tokens, "threads": torch.get_num_threads(),
              "seconds_per_step_median": med, "seconds_per_step_all": steps, "steps_per_s_vs_trl": speedup,
              "store_capture_seconds": round(capture_s, 1),
              "targets": "≥ 1.5× TRL's steps/s with a live teacher, ≥ 3× with stored targets",
              "load_average_after_each_variant": loads, "errors": errors}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "lm_vs_trl.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "lm_vs_trl.md").write_text(markdown(result))
    print(markdown(result))


def markdown(r: dict) -> str:
    lines = [f"Student {r['student_parameters']:,} parameters; SmolLM2 teacher; batch {r['batch_size']} × "
             f"{r['window']} tokens; JSD β = {r['beta']}; on-policy: {r['max_new_tokens']} new tokens; "
             f"{r['steps']} steps × {r['rounds']} round(s); {r['threads']} threads.", "",
             "| trainer | targets | λ | CPU s/step (median) | steps/s vs TRL |", "|---|---|---|---|---|"]
    label = {"trl_lambda0": ("TRL GKDTrainer", "live teacher", 0), "distill_lambda0_live": ("distill", "live teacher", 0),
             "distill_lambda0_stored": ("distill", "stored top-64", 0), "trl_lambda1": ("TRL GKDTrainer", "live teacher", 1),
             "distill_lambda1_live": ("distill", "live teacher", 1)}
    for k, s in r["seconds_per_step_median"].items():
        who, tgt, lam = label[k]
        sp = r["steps_per_s_vs_trl"].get(k)
        lines.append(f"| {who} | {tgt} | {lam} | {s:.2f} | {'' if sp is None else f'{sp:.2f}×'} |")
    lines.append(f"\nTargets: {r['targets']}. Store capture (one-off): {r['store_capture_seconds']} s. "
                 f"Load average after each variant: {', '.join(f'{x:.1f}' for x in r['load_average_after_each_variant'])} "
                 "(shared machine).")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
