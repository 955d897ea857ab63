# ruff: noqa
# Pre-warms the generation's call store with the unanswerable phases (same jobs, seeds and settings as
# `distill docs generate` builds), in a second process beside the running generation. Throwaway helper.
# `prewarm.py --reverse ARGS...` (the third process of the measured run): the boundary questions only, last first.
import asyncio, random, sys
from pathlib import Path
from distill.config import config_from_args
from distill.docs import generate as g
from distill.docs.ingest import load_chunks
from distill.docs.parse import parse_questions
from distill.teachers import RecordedTeacher
import argparse
from distill.config import add_arguments
p = argparse.ArgumentParser(); add_arguments(p, g.GenerateConfig)
reverse = "--reverse" in sys.argv
cfg = config_from_args(g.GenerateConfig, p.parse_args([a for a in sys.argv[1:] if a != "--reverse"]))
work = Path(cfg.workdir)
chunks_all = load_chunks(work); chunks = g.spread(chunks_all, cfg.max_chunks)
q = cfg.quality
n_expected = len(chunks) * min(cfg.questions_per_chunk, q.max_per_chunk)
need = round(2 * q.unanswerable_fraction / (1 - q.unanswerable_fraction) * n_expected)
rng = random.Random(cfg.seed)
boundary_chunks = rng.sample(chunks, min(len(chunks), max(1, (need + 1) // 2)))
b_template = g.read_template(cfg.unanswerable_template)
b_jobs = [{"chunk": c, "prompt": g.render(b_template, c, 2), "seed": cfg.seed * 100_003 + 7 + i * 101}
          for i, c in enumerate(boundary_chunks)]
other = g.spread(g._other_chunks(cfg, work), cfg.unanswerable_docs_chunks)
x_template = g.read_template("extractive")
o_jobs = [{"chunk": c, "prompt": g.render(x_template, c, 1, sents[0]), "seed": cfg.seed * 100_003 + 11 + i * 101}
          for i, c in enumerate(other) if (sents := g.answer_sentences(c, 1))]
rec = RecordedTeacher(cfg.load_teacher(), work / "calls.sqlite")
stats = {"calls": 0, "cached_calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "teacher_errors": 0,
         "malformed_replies": 0, "malformed_gave_up": 0, "_phase": "prewarm"}
async def main():
    if not reverse:
        await g._ask_all(rec, o_jobs, cfg, g.parse_question, stats)
    await g._ask_all(rec, b_jobs[::-1] if reverse else b_jobs, cfg,
                     lambda t: [{"question": x} for x in parse_questions(t, 2)], stats)
asyncio.run(main()); rec.close(); print(stats)
