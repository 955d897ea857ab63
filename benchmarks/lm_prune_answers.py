"""Greedy answers of the teacher and the `lm_prune.py` students to three chat instructions, side by side.

Reads the models `benchmarks/lm_prune.py` left under --work (the pruned folders and the healed
``NAME-LOSS-SEED/model`` folders), answers each instruction in chat form (greedy, --tokens new tokens),
and writes benchmarks/results/lm_prune_answers.{json,md}.

    nice python benchmarks/lm_prune_answers.py --work runs/bench-lm-prune width width-kd-0/model width-ce-0/model
"""

import argparse
import json
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
QUESTIONS = ["What does the with statement do in Python?", "Explain what a Python list is.",
             "How do I define a function in Python?"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", help="model folders relative to --work")
    ap.add_argument("--work", default="runs/bench-lm-prune")
    ap.add_argument("--tokens", type=int, default=40)
    args = ap.parse_args()

    import torch

    from distill.lm.models import load_model, load_tokenizer, resolve

    answers = {}
    for name, path in [("teacher", resolve("smollm2"))] + [(m, str(Path(args.work) / m)) for m in args.models]:
        tok, model = load_tokenizer(path), load_model(path)
        answers[name] = []
        for q in QUESTIONS:
            x = tok.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True,
                                        return_tensors="pt", return_dict=True)
            with torch.no_grad():
                y = model.generate(**x, max_new_tokens=args.tokens, do_sample=False, pad_token_id=tok.eos_token_id)
            answers[name].append(tok.decode(y[0, x["input_ids"].shape[1]:], skip_special_tokens=True))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "lm_prune_answers.json").write_text(json.dumps({"questions": QUESTIONS, "tokens": args.tokens,
                                                               "answers": answers}, indent=2))
    lines = ["| model | " + " | ".join(QUESTIONS) + " |", "|---|" + "---|" * len(QUESTIONS)]
    for name, a in answers.items():
        lines.append(f"| {name} | " + " | ".join(repr(t).replace("|", "\\|") for t in a) + " |")
    text = "\n".join(lines) + "\n"
    (RESULTS / "lm_prune_answers.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
