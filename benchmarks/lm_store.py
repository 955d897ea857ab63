"""Benchmark: size of the top-k target store against dense fp16 logits.

Captures the embedded SmolLM2-135M-Instruct teacher's targets on Python's pydoc_data topics
(a few windows: the size per token does not depend on how many) at several k, and reports
bytes per token on disk, the share of the teacher's probability mass the top k hold, and
the ratio to dense fp16 logits (V × 2 bytes). Writes benchmarks/results/lm_store.json.

    python benchmarks/lm_store.py [--k 16 32 64] [--windows 8] [--window 256]
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from distill.lm.capture import CaptureConfig, capture
from distill.lm.quickstart import pydoc_corpus
from distill.targets.store import TopKStore

RESULTS = Path(__file__).parent / "results" / "lm_store.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--k", type=int, nargs="+", default=[16, 32, 64])
    ap.add_argument("--windows", type=int, default=8)
    ap.add_argument("--window", type=int, default=256)
    ap.add_argument("--teacher", default="smollm2")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    train, _ = pydoc_corpus(tmp / "corpus")
    rows = []
    for enc, k in [(e, k) for e in ("compact", "raw") for k in args.k]:
        t0 = time.time()
        m = capture(CaptureConfig(teacher=args.teacher, data=str(train), top_k=k, window=args.window, encoding=enc,
                                  max_windows=args.windows, shard_windows=args.windows, out=str(tmp / f"{enc}{k}")))
        store = TopKStore(tmp / f"{enc}{k}")
        mass = torch.cat([t.logprobs.exp().sum(-1).flatten() for _, t in store.batches(4)])
        rows.append({"encoding": enc, "k": k, "bytes_per_token": round(m.bytes_per_token(), 1),
                     "dense_fp16_bytes_per_token": 2 * m.vocab_size,
                     "fraction_of_dense": m.bytes_per_token() / (2 * m.vocab_size),
                     "mean_topk_mass": mass.mean().item(), "tokens": m.tokens,
                     "capture_seconds": round(time.time() - t0, 1)})
        print(f"{enc} k={k}: {rows[-1]['bytes_per_token']} bytes/token "
              f"({rows[-1]['fraction_of_dense']:.3%} of dense fp16), top-k mass {rows[-1]['mean_topk_mass']:.3f}")
    result = {"teacher": args.teacher, "corpus": "pydoc_data topics (train split)", "window": args.window,
              "layout": {"raw": "uint16 ids + fp16 log-probs per kept token",
                         "compact": "sorted delta-coded ids + log-probs quantized to 1/16 nat, byte planes, zlib",
                         "both": "fp16 log tail mass + int32 input id per position"},
              "target": "≤ 150 bytes/token at k = 64", "rows": rows}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
