"""Collect the answers benchmarks/provenance.py measures on (slow: SmolLM2 on a shared 2-core CPU).

    OMP_NUM_THREADS=2 PYTHONPATH=src nice python benchmarks/provenance_collect.py [attribution|lineage|safety]

Writes runs/provenance/answers.jsonl (attribution and lineage) and runs/provenance/safety.jsonl, resumably.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from provenance_gen import Batched, collect  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "runs" / "provenance"
GROUPS = 8  # prompt groups × 4 languages = 32 prompts per source
LINEAGE_GROUPS = 4  # the suspects answer the first 4 of those groups (16 prompts): the CPU allowed no more
SAFETY_LANGUAGES = ("en",)  # 24 probes per model, for the same reason
MAX_TOKENS = 32
# label → (system prompt, temperature, seed); all SmolLM2-135M-Instruct
SOURCES = {
    "plain": (None, 0.7, 0),
    "terse": ("Answer in one short sentence.", 0.7, 0),
    "teacher": ("You are a cheerful teacher. Start every answer with a greeting and use a simple example.", 0.7, 0),
}  # a 4th persona ("formal academic writer") was planned; the shared CPU allowed 3
HELD_OUT = {"poet": ("You are a poet. Answer in a poetic, lyrical style.", 0.7, 0)}
SUSPECTS = {"plain-resampled": (None, 0.7, 1),
            "teacher-resampled": (SOURCES["teacher"][0], 0.7, 1)}
SAFETY = {"plain": (None, 0.0, 0), "terse": (SOURCES["terse"][0], 0.0, 0)}


def main(stages: list[str]) -> None:
    from distill.detect.attribution.prompts import load_prompts

    RUN.mkdir(parents=True, exist_ok=True)
    engine = Batched("smollm2")
    prompts = load_prompts(limit=GROUPS)
    plan = {"attribution": SOURCES | HELD_OUT, "lineage": SUSPECTS}
    for stage in stages:
        if stage == "safety":
            from distill.evaluate.safety import load_probes

            probes = load_probes(languages=SAFETY_LANGUAGES)
            for label, (system, temp, seed) in SAFETY.items():
                collect(engine, RUN / "safety.jsonl", label, probes, system=system, temperature=temp, seed=seed,
                        max_tokens=MAX_TOKENS)
            continue
        groups = sorted({p.group for p in prompts})[:LINEAGE_GROUPS] if stage == "lineage" else None
        for label, (system, temp, seed) in plan[stage].items():
            asked = [p for p in prompts if groups is None or p.group in groups]
            collect(engine, RUN / "answers.jsonl", label, asked, system=system, temperature=temp, seed=seed,
                    max_tokens=MAX_TOKENS)


if __name__ == "__main__":
    main(sys.argv[1:] or ["attribution", "lineage", "safety"])
