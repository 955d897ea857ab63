"""`distill review export`: the reviewed data set, in the format of :mod:`distill.docs.export`.

Approved and edited items are kept (with ``--keep-pending`` also the items nobody looked at, which is
what a spot check wants); rejected ones are dropped. An edited item is rebuilt with
:func:`distill.docs.export.to_record`, so its ``messages`` carry the edited question and answer (and its
``id`` follows the edited question, as the format defines; ``original_id`` keeps the reviewed one). Every
kept item gains a ``review`` field (approved | edited | pending). Beside the data set: ``review.json``
and ``review.md``, the summary of the decisions.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from distill.config import check, doc, settings
from distill.docs.export import to_record, write_items
from distill.results import Result
from distill.review import sample
from distill.review.dataset import Dataset, load
from distill.review.store import Store

DB_NAME = "review.sqlite"


@settings
class ExportConfig:
    """Settings of `distill review export`."""

    dataset: str = doc("the reviewed data set folder (written by `distill docs generate`)", flag="dataset",
                       default="", required=True)
    out: str = doc("folder for the reviewed data set (default: DATASET-reviewed beside it)", default="")
    keep_pending: bool = doc("also keep items nobody reviewed (after a spot check); rejected items are always "
                             "dropped", default=False)

    def __post_init__(self):
        check(Path(self.out or self.default_out).resolve() != Path(self.dataset).resolve(), "out", self.out,
              "a folder other than the data set itself")

    @property
    def default_out(self) -> str:
        return str(Path(self.dataset.rstrip("/")).with_name(Path(self.dataset.rstrip("/")).name + "-reviewed"))


def reviewed_record(item: dict, decision: dict, product: str) -> dict:
    """The record an item becomes after review, with its decision in ``review``.

    Args:
        item: the item as generated.
        decision: its decision: {"status", "edits", ...}; status one of approved, edited, rejected, pending.
        product: the product name, for rebuilding an edited item's messages.

    Returns:
        A copy of ``item`` (status other than edited), or the edited item rebuilt as a record (its
        generated system prompt kept; ``original_id`` when the id changed).
    """
    if decision["status"] != "edited":
        return dict(item) | {"review": decision["status"]}
    edited = dict(item) | decision["edits"]
    rec = to_record(edited, product)
    for k in ("support_share", "support_similarity"):  # to_record copies these only from its input
        if k in item:
            rec[k] = item[k]
    # the system prompt the data set was written with stays, whatever product name the card holds
    if item.get("messages") and item["messages"][0].get("role") == "system":
        rec["messages"][0] = dict(item["messages"][0])
    rec["review"] = "edited"
    if rec["id"] != item["id"]:
        rec["original_id"] = item["id"]
    return rec


def summarize(ds: Dataset, decisions: dict[str, dict], sampled: list[str] | None = None) -> dict:
    """Counts of the decisions: overall, by flag and by section, with the rejected ids.

    Args:
        ds: the data set.
        decisions: item id → decision; items without one are pending.
        sampled: the spot-check sample's item ids, or None.

    Returns:
        {"items", "reviewed", "status", "by_flag", "by_section", "rejected_ids"}, and "sample"
        (size and the rejection-rate estimate) when ``sampled`` is given.
    """
    status = {i: decisions.get(i, {"status": "pending"})["status"] for i in ds.by_id}
    counts = Counter(status.values())
    by_flag, by_section = {}, {}
    for it in ds.items:
        s = status[it["id"]]
        for key, table in [(f, by_flag) for f in it.get("flags", [])] + [(it.get("section") or it.get("source", ""), by_section)]:
            row = table.setdefault(key, Counter())
            row[s] += 1
    res = {
        "items": len(ds.items), "reviewed": len(ds.items) - counts["pending"],
        "status": {s: counts[s] for s in ("approved", "edited", "rejected", "pending")},
        "by_flag": {k: dict(v) for k, v in sorted(by_flag.items())},
        "by_section": {k: dict(v) for k, v in sorted(by_section.items())},
        "rejected_ids": sorted(i for i, s in status.items() if s == "rejected"),
    }
    if sampled is not None:
        done = [i for i in sampled if status[i] != "pending"]
        res["sample"] = {"size": len(sampled),
                         "estimate": sample.estimate(sum(status[i] == "rejected" for i in done), len(done),
                                                     len(ds.items))}
    return res


def markdown(summary: dict) -> str:
    """The review summary as markdown: decisions, spot-check estimate, by flag, by section, where written.

    Args:
        summary: as :func:`summarize` (or :func:`export`) returns it.

    Returns:
        The markdown text.
    """
    s = summary["status"]
    lines = ["# Review of the data set", "",
             f"{summary['reviewed']} of {summary['items']} items reviewed.", "",
             "| decision | items |", "|---|---:|"] + [f"| {k} | {v} |" for k, v in s.items()]
    if "sample" in summary:
        lines += ["", f"Spot check ({summary['sample']['size']} sampled items): "
                      f"{sample.describe(summary['sample']['estimate'])}."]
    lines += ["", "## By flag", "", "| flag | approved | edited | rejected | pending |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {k} | " + " | ".join(str(v.get(x, 0)) for x in s) + " |" for k, v in summary["by_flag"].items()]
    lines += ["", "## By section", "", "| section | approved | edited | rejected | pending |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {k} | " + " | ".join(str(v.get(x, 0)) for x in s) + " |" for k, v in summary["by_section"].items()]
    if "written" in summary:
        lines += ["", f"Written to `{summary['out']}`: {summary['written']['train']} train / "
                      f"{summary['written']['eval']} eval items."]
    return "\n".join(lines) + "\n"


def export(ds: Dataset, store: Store, out: str | Path, *, keep_pending: bool = False) -> dict:
    """Write the reviewed data set and the summary of the decisions to ``out``; returns the summary.

    Args:
        ds: the data set.
        store: the decisions.
        out: the output folder (created); gets the items, dataset.json, review.json, review.md and README.md.
        keep_pending: also write items not reviewed yet (a spot check reviews a sample only).

    Returns:
        The :func:`summarize` summary plus "out", "source", "kept" and "written".
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    decisions = store.all()
    keep = {"approved", "edited"} | ({"pending"} if keep_pending else set())
    pending = {"status": "pending", "edits": {}, "version": 0}
    records = [reviewed_record(it, decisions.get(it["id"], pending), ds.product) for it in ds.items
               if decisions.get(it["id"], pending)["status"] in keep]
    written = write_items(out, records, list(ds.chunks.values()))
    sampled = store.meta("sample")
    summary = summarize(ds, decisions, sampled["ids"] if sampled else None)
    summary |= {"out": str(out), "source": str(ds.path), "kept": sorted(keep),
                "written": written}
    card = dict(ds.card) | {"items": len(records), "train": summary["written"]["train"],
                            "eval": summary["written"]["eval"],
                            "unanswerable": sum(r.get("kind") == "unanswerable" for r in records),
                            "with_reasoning": sum(bool(r.get("reasoning")) for r in records),
                            "review": {k: summary[k] for k in ("items", "reviewed", "status")}}
    card.pop("hf", None), card.pop("path", None)
    (out / "dataset.json").write_text(json.dumps(card, indent=2, ensure_ascii=False), "utf-8")
    (out / "review.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), "utf-8")
    md = markdown(summary)
    (out / "review.md").write_text(md, "utf-8")
    original = ds.path / "README.md"
    card_md = original.read_text("utf-8") if original.exists() else ""
    (out / "README.md").write_text(card_md + ("\n" if card_md else "") + md.replace("# Review", "## Review", 1), "utf-8")
    return summary


class ExportResult(Result):
    """What `distill review export` returns: the decisions and what was written."""



    def summary(self) -> str:
        return markdown(self)


def run(cfg: ExportConfig) -> ExportResult:
    """Export the reviewed data set the config names (``distill review export``).

    Args:
        cfg: the export's settings.

    Returns:
        The summary of :func:`export`.

    Raises:
        FileNotFoundError: the data set has no review database yet (or see :func:`distill.review.dataset.load`).
    """
    ds = load(cfg.dataset)
    db = ds.path / DB_NAME
    if not db.exists():
        raise FileNotFoundError(f"{db} not found: review the data set first (distill review {cfg.dataset}).")
    store = Store(db)
    try:
        return ExportResult(export(ds, store, cfg.out or cfg.default_out, keep_pending=cfg.keep_pending))
    finally:
        store.close()
