"""`distill docs quickstart`: the whole documentation-assistant path on bundled docs, offline.

Python's own `pydoc_data` topics (shipped with every Python) stand in for "your product's docs";
the embedded SmolLM2-135M-Instruct is the teacher. Offline, that small model is also the only
instruct model there is, so the student starts from the same weights: what the demo shows is the
path (ingest → generate → filter → train → evaluate, with costs), not a size gap. Point `--teacher`
at an OpenAI-compatible endpoint of a large model to get the real one.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from distill.config import doc, settings, to_dict
from distill.docs.evaluate import DocsEvalConfig, evaluate
from distill.docs.evaluate import markdown as eval_markdown
from distill.docs.generate import GenerateConfig, generate
from distill.docs.ingest import IngestConfig, ingest
from distill.docs.quality import QualityConfig
from distill.docs.train import DocsTrainConfig, train
from distill.files import write_results
from distill.results import Result
from distill.teachers import TeacherOptions


def write_pydoc_topics(dest: Path) -> int:
    """Python's pydoc topics as one text file each (they carry reST-style headings).

    Args:
        dest: the folder to write into (created if needed).

    Returns:
        The number of files written.
    """
    from pydoc_data.topics import topics

    dest.mkdir(parents=True, exist_ok=True)
    for name, text in topics.items():
        (dest / f"{name}.txt").write_text(text)
    return len(topics)


@settings
class DocsQuickstartConfig(TeacherOptions):
    """Settings of `distill docs quickstart`."""

    docs: str = doc("documentation folder (default: Python's pydoc topics, written under OUT/source)", default="")
    out: str = doc("output folder", default="runs/docs-quickstart")
    max_chunks: int = doc("chunks to write questions for, spread over the docs", default=24)
    questions_per_chunk: int = doc("questions per chunk", default=2)
    template: str = doc("generation template ('extractive' suits the small embedded teacher)", default="extractive")
    student: str = doc("student to fine-tune", default="smollm2")
    steps: int = doc("training steps", default=20)
    batch_size: int = doc("training batch size", default=4)
    lr: float = doc("learning rate", default=3e-5)
    price_in: float = doc("teacher $ per million prompt tokens (an example price; set your provider's)",
                          default=0.5)
    price_out: float = doc("teacher $ per million completion tokens (example)", default=1.5)
    concurrency: int = doc("teacher calls in flight at once (in-process teachers run one at a time)", default=2)
    quality: QualityConfig = doc("quality filters of the generated triples",
                                 default_factory=lambda: QualityConfig(eval_fraction=0.2, max_per_chunk=2,
                                                                       unanswerable_fraction=0.15))


class DocsQuickstartResult(Result):
    """What `distill docs quickstart` returns: each stage's figures; its summary is ``results.md``."""

    ingest: dict
    dataset: dict
    train: dict
    eval: dict
    timings_s: dict

    def summary(self) -> str:
        return markdown(self)


def run(cfg: DocsQuickstartConfig) -> DocsQuickstartResult:
    """`distill docs quickstart`: ingest, generate, train and evaluate in one go.

    Args:
        cfg: the quickstart settings (docs, teacher, student, budget).

    Returns:
        JSON-able results (also written to ``cfg.out``): ``ingest``, ``dataset``, ``generation``,
        ``train``, ``eval``, ``timings_s``, ``config``.

    Raises:
        ValueError: no training item survived the filters.
    """
    t0 = time.time()
    out = Path(cfg.out)
    docs = Path(cfg.docs) if cfg.docs else out / "source"
    if not cfg.docs:
        write_pydoc_topics(docs)
    work = out / "work"
    timings = {}
    t = time.time()
    ing = ingest(IngestConfig(source=str(docs), out=str(work)))
    timings["ingest"] = round(time.time() - t, 1)
    teacher_opts = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(TeacherOptions)}
    t = time.time()
    gen = generate(GenerateConfig(**teacher_opts, workdir=str(work), questions_per_chunk=cfg.questions_per_chunk,
                                  template=cfg.template, max_chunks=cfg.max_chunks, product="Python",
                                  max_tokens=160, quality=cfg.quality))
    timings["generate"] = round(time.time() - t, 1)
    if gen["dataset"]["train"] == 0:
        raise ValueError("no training item survived the filters; see "
                         f"{work}/rejected.jsonl and {work}/dataset/README.md.")
    t = time.time()
    tr = train(DocsTrainConfig(dataset=str(work / "dataset"), student=cfg.student, steps=cfg.steps,
                               batch_size=min(cfg.batch_size, gen["dataset"]["train"]), lr=cfg.lr,
                               out=str(out / "student")))
    timings["train"] = round(time.time() - t, 1)
    t = time.time()
    ev = evaluate(DocsEvalConfig(**teacher_opts, dataset=str(work / "dataset"), student=tr["model"],
                                 price_in=cfg.price_in, price_out=cfg.price_out, max_tokens=120,
                                 out=str(out / "eval")))
    timings["eval"] = round(time.time() - t, 1)
    res = DocsQuickstartResult({"ingest": {k: ing[k] for k in ("files_read", "chunks", "sections")},
           "dataset": gen["dataset"], "generation": {"teacher_stats": gen["teacher_stats"],
                                                      "rejected_by_step": gen["filters"]["rejected_by_step"]},
           "train": {k: tr[k] for k in ("steps", "seconds", "model")}, "eval": ev,
           "timings_s": timings | {"total": round(time.time() - t0, 1)}, "config": to_dict(cfg)})
    write_results(out, res, markdown)
    return res


def markdown(res: dict) -> str:
    """The Markdown report of a `run` result.

    Args:
        res: a `run` result.

    Returns:
        Markdown text.
    """
    d, g, tm = res["dataset"], res["generation"], res["timings_s"]
    lines = [f"# distill docs quickstart ({tm['total']:.0f} s)", "",
             f"- ingest: {res['ingest']['files_read']} files → {res['ingest']['chunks']} chunks "
             f"({tm['ingest']} s)",
             f"- generate: {g['teacher_stats']['calls']} teacher calls, {d['generated']} triples, removed by step "
             f"{g['rejected_by_step']} → {d['train']} train / {d['eval']} eval items ({tm['generate']} s)",
             f"- train: {res['train']['steps']} steps ({tm['train']} s) → {res['train']['model']}",
             f"- eval ({tm['eval']} s):", "", eval_markdown(res["eval"])]
    return "\n".join(lines)
