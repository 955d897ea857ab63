"""`distill label train LABELS`: compact students on a `label run`'s labels, compared with gold and the teacher.

The labelled texts are split (seeded) into a training part and a held-out part. On the held-out part the
teacher's own labels are scored against gold (the reference row). Each student — the scikit-learn model
(TF-IDF + logistic regression for classes; per-token features + logistic regression over BIO tags for
entities) and the tiny transformer built here — is trained on the training part's labels from each source:

- ``teacher``: the teacher's labels as they are (texts whose every reply broke the schema are left out);
- ``teacher-soft`` (classification, when the records carry soft labels): the teacher's label probabilities;
- ``reviewed-K``: K training texts (a seeded sample) reviewed by a person, simulated by replacing their teacher
  labels with gold; ``reviewed-all`` is every text reviewed, i.e. ``gold``;
- ``human``: the decisions actually made on the review page (``LABELS/review/review.sqlite``), when any.

Each is scored against gold and against the teacher's labels on the held-out part, and against gold on an
optional larger gold-only set (``--eval-data``). Review minutes are K × ``--seconds-per-item`` / 60; costs are
CPU seconds per 1,000 texts (prediction for students, labelling for the teacher, from the run's results).
The simulated review's spot check (:func:`distill.review.sample.estimate`: the K reviewed texts as a sample)
estimates the teacher's error rate, printed beside the true rate on the training part.
"""

from __future__ import annotations

import json
import logging
import random
import time
from pathlib import Path

from distill.config import check, doc, settings, to_dict
from distill.files import write_results
from distill.label.data import load_items
from distill.label.run import RECORDS, read_records
from distill.label.spans import classification_scores, span_f1
from distill.results import Result
from distill.review import sample

log = logging.getLogger(__name__)

STUDENTS = ("sklearn", "transformer")


@settings
class LabelTrainConfig:
    """Settings of `distill label train LABELS`."""

    labels: str = doc("the folder `distill label run` wrote (labels.jsonl)", flag="labels", default="",
                      required=True)
    out: str = doc("results folder (default: LABELS/train)", default="")
    students: tuple[str, ...] = doc("students to train: sklearn, transformer", default=STUDENTS, choices=STUDENTS)
    reviewed: tuple[int, ...] = doc("simulated review sizes: train on teacher labels with this many texts "
                                    "corrected to gold (-1: all, i.e. gold)", default=(0, 100, 300, -1), ge=-1)
    test_fraction: float = doc("share of the labelled texts held out for scoring", default=0.25, gt=0.0, lt=1.0)
    eval_data: str = doc("also score against this gold-only set (a `label run --data` spec; '': none)",
                         default="")
    eval_n: int = doc("texts of --eval-data (0: all; headlines: how many to generate)", default=1000, ge=0)
    eval_seed: int = doc("seed of --eval-data (use another seed than the run's for headlines)", default=1000)
    seconds_per_item: float = doc("review time per text, for the review minutes (the case study: 5-10 s with "
                                  "pre-labels, ~30 s by hand)", default=7.5, gt=0.0)
    epochs: int = doc("tiny transformer: passes over the training texts", default=30, ge=1)
    seed: int = doc("seed of the split, the review samples and the students", default=0)

    def __post_init__(self):
        check(Path(self.labels).is_dir() or not self.labels, "labels", self.labels,
              "a folder `distill label run` wrote")


def _score(task: str, labels: tuple[str, ...], gold: list, pred: list) -> float:
    if task == "classify":
        return classification_scores(gold, pred, labels)["macro_f1"]
    return span_f1(gold, pred)["f1"]


def _make(student: str, task: str, labels: tuple[str, ...], cfg: LabelTrainConfig):
    from distill.label.students import TfidfClassifier, TinyTransformer, TokenTagger

    if student == "sklearn":
        return TfidfClassifier(seed=cfg.seed) if task == "classify" else TokenTagger(seed=cfg.seed)
    return TinyTransformer(task, labels, epochs=cfg.epochs, seed=cfg.seed,
                           vocab_size=2000 if task == "classify" else 500)


class _Constant:
    """The only student labels of one class allow: that class, always."""

    def __init__(self, label: str):
        self.label = label

    def fit(self, texts: list[str], labels: list[str]) -> _Constant:
        return self

    def predict(self, texts: list[str]) -> list[str]:
        return [self.label] * len(texts)


def split(records: list[dict], fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """A seeded split of records into (train, held out), by sorted id so the split ignores file order.

    Args:
        records: label records.
        fraction: share held out.
        seed: seed of the shuffle.

    Returns:
        (train, held out).
    """
    rs = sorted(records, key=lambda r: r["id"])
    random.Random(seed).shuffle(rs)
    k = max(1, round(fraction * len(rs)))
    return rs[k:], rs[:k]


def simulate_review(train: list[dict], k: int, seed: int) -> tuple[list[dict], set[str]]:
    """Training labels after a person reviewed ``k`` texts (a seeded sample): those take their gold label.

    Args:
        train: training records with gold.
        k: texts reviewed (-1 or ≥ len: all).
        seed: seed of the sample.

    Returns:
        (records with ``label`` set: gold where reviewed, else the teacher's (None for an invalid reply);
        the reviewed ids).
    """
    ids = sorted(r["id"] for r in train)
    chosen = set(ids if k < 0 or k >= len(ids) else random.Random(seed).sample(ids, k))
    return [r | {"label": r["gold"] if r["id"] in chosen else r.get("teacher")} for r in train], chosen


class LabelTrainResult(Result):
    """What `distill label train` returns: one row per (student, label source), and the teacher's row."""

    task: str
    train_items: int
    test_items: int
    teacher: dict
    rows: list
    spot_checks: list

    def summary(self) -> str:
        return self.report or json.dumps(self.rows)


def _report(res: dict) -> str:
    metric = "macro F1" if res["task"] == "classify" else "span F1"
    ev = res.get("eval_data") or ""
    t = res["teacher"]
    lines = [f"# distill label train: {res['task']} ({metric})", "",
             f"{res['train_items']} labelled texts to train on, {res['test_items']} held out"
             + (f"; also scored on {res['eval_items']} gold texts of `{ev}`" if ev else "") + ".", "",
             f"| model | labels | texts reviewed | review min | {metric} vs gold (held out) | vs teacher (held out) |"
             + (f" {metric} vs gold ({ev}) |" if ev else "") + " CPU s / 1,000 |",
             "|---|---|---:|---:|---:|---:|" + ("---:|" if ev else "") + "---:|",
             f"| teacher {t['name']} | — | — | — | {t['f1_gold']:.3f} | 1.000 |" + (" — |" if ev else "")
             + f" {t['cpu_s_per_1000'] if t['cpu_s_per_1000'] is not None else '—'} |"]
    for r in res["rows"]:
        lines.append(f"| {r['student']}{' (constant)' if r.get('note') else ''} | {r['source']} | {r['reviewed']} | {r['review_minutes']:.1f} | "
                     f"{r['f1_gold']:.3f} | {r['f1_teacher']:.3f} |" + (f" {r['f1_eval']:.3f} |" if ev else "")
                     + f" {r['cpu_s_per_1000']:.2f} |")
    if res["spot_checks"]:
        lines += ["", "Spot check of the simulated review (a reviewed text whose teacher label differs from gold is "
                  "an error): "]
        for s in res["spot_checks"]:
            lines.append(f"- {s['reviewed']} reviewed: {s['text']}; true rate on the training texts "
                         f"{s['true_rate']:.1%}")
    return "\n".join(lines) + "\n"


def train(cfg: LabelTrainConfig) -> LabelTrainResult:
    """Train and score the students (see the module docstring).

    Args:
        cfg: the settings.

    Returns:
        The teacher's row, one row per (student, source) and the spot checks; also OUT/results.{json,md}.

    Raises:
        ValueError: no records, or too few for the split.
    """
    folder = Path(cfg.labels)
    records = list(read_records(folder / RECORDS).values())
    if len(records) < 4:
        raise ValueError(f"{folder}/{RECORDS} holds {len(records)} records; run `distill label run --out {folder}` "
                         "first (at least 4 texts).")
    run_res = json.loads((folder / "results.json").read_text("utf-8")) if (folder / "results.json").exists() else {}
    task = records[0]["task"]
    labels = tuple(run_res.get("labels") or sorted({r["gold"] for r in records if r.get("gold")}))
    train_rs, test_rs = split(records, cfg.test_fraction, cfg.seed)
    has_gold = all(r.get("gold") is not None for r in records)
    empty = None if task == "classify" else []
    test_texts = [r["text"] for r in test_rs]
    test_teacher = [r.get("teacher") if r.get("teacher") is not None else empty for r in test_rs]
    test_gold = [r["gold"] for r in test_rs] if has_gold else None
    ev_items = load_items(cfg.eval_data, cfg.eval_n, cfg.eval_seed) if cfg.eval_data else []
    seen = {r["text"] for r in records}
    ev_items = [it for it in ev_items if it.text not in seen]  # never score on a text trained on
    ev_texts = [it.text for it in ev_items]
    ev_gold = [it.label if task == "classify" else it.entities for it in ev_items]
    tstats = run_res.get("teacher_stats", {})
    stamp_file = folder / "label-settings.json"
    teacher_name = json.loads(stamp_file.read_text("utf-8")).get("teacher") if stamp_file.exists() else "?"
    teacher_row = {"name": teacher_name,
                   "f1_gold": _score(task, labels, test_gold, test_teacher) if has_gold else None,
                   "cpu_s_per_1000": tstats.get("all_records_cpu_seconds_per_1000",
                                                tstats.get("cpu_seconds_per_1000")),
                   "wall_s_per_1000": tstats.get("all_records_wall_seconds_per_1000",
                                                 tstats.get("wall_seconds_per_1000"))}

    sources: list[tuple[str, list[dict], int]] = []  # (name, records with "label", texts reviewed)
    spot = []
    for k in cfg.reviewed:
        if not has_gold and k != 0:
            continue
        rs, chosen = simulate_review(train_rs, k, cfg.seed)
        name = "teacher" if k == 0 else "gold" if k < 0 or k >= len(train_rs) else f"reviewed-{k}"
        if name == "gold" and any(s[0] == "gold" for s in sources):
            continue
        sources.append((name, rs, len(chosen)))
        if has_gold and 0 < len(chosen) < len(train_rs):
            errors = sum(r["teacher"] != r["gold"] for r in train_rs if r["id"] in chosen)
            est = sample.estimate(errors, len(chosen), len(train_rs))
            true = sum(r["teacher"] != r["gold"] for r in train_rs) / len(train_rs)
            spot.append(est | {"text": sample.describe(est, "wrongly labelled"), "true_rate": true})
    if task == "classify" and all("probs" in r for r in train_rs):
        sources.insert(1, ("teacher-soft", [r | {"label": r.get("teacher")} for r in train_rs], 0))
    review_dir = folder / "review"
    if (review_dir / "review.sqlite").exists():
        from distill.label.review import open_store, reviewed_labels

        store = open_store(review_dir)
        kept, counts = reviewed_labels(train_rs, store, list(labels))
        store.close()
        n_rev = counts["approved"] + counts["edited"] + counts["rejected"]
        if n_rev:
            sources.append(("human", [r | {"label": r["teacher"]} for r in kept], n_rev))

    rows, skipped = [], []
    for student in cfg.students:
        for name, rs, n_rev in sources:
            use = [r for r in rs if r["label"] is not None]
            texts = [r["text"] for r in use]
            if len(use) < 2:
                skipped.append({"student": student, "source": name,
                                "why": f"{len(use)} labelled texts: too few to train on"})
                continue
            one = task == "classify" and name != "teacher-soft" and len({r["label"] for r in use}) == 1
            model = _Constant(use[0]["label"]) if one else _make(student, task, labels, cfg)
            t0 = time.process_time()
            if name == "teacher-soft":
                model.fit(texts, [r["label"] for r in use], probs=[r["probs"] for r in use])
            else:
                model.fit(texts, [r["label"] for r in use])
            train_s = time.process_time() - t0
            c0 = time.process_time()
            pred = model.predict(test_texts)
            pred_ev = model.predict(ev_texts) if ev_texts else []
            cpu = (time.process_time() - c0) / max(1, len(test_texts) + len(ev_texts)) * 1000
            row = {"student": student, "source": name, "reviewed": n_rev,
                   "review_minutes": n_rev * cfg.seconds_per_item / 60, "trained_on": len(use),
                   "f1_gold": _score(task, labels, test_gold, pred) if has_gold else None,
                   "f1_teacher": _score(task, labels, test_teacher, pred), "train_cpu_s": round(train_s, 2),
                   "cpu_s_per_1000": round(cpu, 3)}
            if one:
                row["note"] = f"every label is {use[0]['label']!r}: the student can only answer that"
            if ev_texts:
                row["f1_eval"] = _score(task, labels, ev_gold, pred_ev)
            if student == "transformer" and not one:
                row["parameters"] = model.parameters()
            log.info("label train: %s on %s: F1 vs gold %s", student, name, row["f1_gold"])
            rows.append(row)
    res = {"task": task, "train_items": len(train_rs), "test_items": len(test_rs), "teacher": teacher_row,
           "rows": rows, "skipped": skipped, "spot_checks": spot, "eval_data": cfg.eval_data, "eval_items": len(ev_texts),
           "config": to_dict(cfg)}
    result = LabelTrainResult(res, report=_report(res) if has_gold else "")
    write_results(cfg.out or folder / "train", result, result.report or None)
    return result


def run(cfg: LabelTrainConfig) -> LabelTrainResult:
    """The CLI entry of `distill label train` (see :func:`train`).

    Args:
        cfg: the settings.

    Returns:
        The result.
    """
    return train(cfg)
