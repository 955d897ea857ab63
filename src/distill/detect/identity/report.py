"""Summaries, the markdown report and the claim-rate heatmap of an identity probe."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from distill.detect.identity.claims import NO_CLAIM, AliasTable
from distill.detect.identity.probes import CONDITIONS
from distill.detect.identity.stats import claim_rates, rate
from distill.files import write_results

CAVEAT = ("A self-claim is a hint, not proof. Models trained on each other's outputs, and on web text that "
          "mentions other models, claim identities they do not have; small and base models also make names up. "
          "Read a high rate of claiming another model's identity as a reason to look further, never as evidence "
          "of distillation on its own.")


def _kinds(claims: list[str], own_lab: str | None, labs: dict[str, str]) -> dict[str, bool]:
    """Which kinds of claim one answer makes: its own identity, the anchor, another one, none."""
    claimed = {labs[c] for c in claims}
    return {"own": own_lab in claimed, "anchor": "anchor" in claimed,
            "other": bool(claimed - {own_lab, "anchor"}), NO_CLAIM: not claims}


def summarize(records: list[dict], table: AliasTable, own: dict[str, str | None], specs: list[str]) -> dict:
    """Rates per model × condition (pooled and per language), and the cross-model asymmetry.

    Args:
        records: the classified answers (``teacher``, ``lang``, ``condition``, ``claims``), of every model.
        table: the alias table the answers were classified with (its labels and labs).
        own: model label → its own identity id, or None when unknown (then nothing counts as "own").
        specs: the model labels, in the order given (one, or two for a comparison).

    Returns:
        ``{"models": {label: {identity, lab, answers, summary, other_identities}}, "caveat": CAVEAT,
        "rates": claim_rates(...)}``, where ``summary[lang][condition]`` rates the kinds of claim
        (own, anchor, other, no claim) with ``lang`` also "all"; with two models also ``"asymmetry"``:
        rows of how often each model claims the other's lab, per condition.
    """
    labs = table.labs
    res: dict = {"models": {}, "caveat": CAVEAT,
                 "rates": claim_rates(records, list(table.labels), labs)}
    for spec in specs:
        own_lab = labs.get(own[spec]) if own[spec] else None
        mine = [r for r in records if r["teacher"] == spec]
        summary: dict = {}
        for lang in ["all"] + sorted({r["lang"] for r in mine}):
            for cond in _conditions(mine):
                cell = [_kinds(r["claims"], own_lab, labs) for r in mine
                        if r["condition"] == cond and lang in ("all", r["lang"])]
                summary.setdefault(lang, {})[cond] = {k: rate(sum(c[k] for c in cell), len(cell))
                                                      for k in ("own", "anchor", "other", NO_CLAIM)}
        others = Counter(c for r in mine for c in r["claims"] if labs[c] not in (own_lab, "anchor"))
        res["models"][spec] = {"identity": own[spec], "lab": own_lab, "answers": len(mine), "summary": summary,
                               "other_identities": dict(others.most_common())}
    if len(specs) == 2:
        res["asymmetry"] = _asymmetry(records, specs, own, labs)
    return res


def _conditions(records) -> list[str]:
    present = {r["condition"] for r in records}
    return [c for c in CONDITIONS if c in present]


def _asymmetry(records, specs, own, labs) -> list[dict]:
    """For A, B: how often A claims B's lab, and B claims A's (pooled over languages, per condition)."""
    rows = []
    for a, b in (specs, specs[::-1]):
        target = labs.get(own[b]) if own[b] else None
        for cond in _conditions(records):
            mine = [r for r in records if r["teacher"] == a and r["condition"] == cond]
            k = sum(target is not None and any(labs[c] == target for c in r["claims"]) for r in mine)
            rows.append({"model": a, "claims_to_be": b, "lab": target, "condition": cond, **rate(k, len(mine))})
    return rows


def _pct(cell: dict) -> str:
    return f"{100 * cell['rate']:.0f}% [{100 * cell['lo']:.0f}–{100 * cell['hi']:.0f}]"


def markdown(res: dict, records: list[dict], table: AliasTable) -> str:
    """The report: caveat, setup, summary, who claims to be whom, per-language rates, example answers.

    Args:
        res: the summary from :func:`summarize`, with ``config``, ``answers``, ``probes_per_model`` and
            ``prompt_format`` (label → "chat" | "plain") added as :func:`distill.detect.identity.run.run` does.
        records: the classified answers (with ``answer`` text), for the examples (at most 12, claims of
            other identities first).
        table: the alias table, for the identities' labels.

    Returns:
        The Markdown document (``results.md``), ending in a newline; rates as percentages with their
        95% Wilson intervals.
    """
    cfg = res["config"]
    lines = ["# Identity probes", "", f"> {res['caveat']}", "",
             f"{res['answers']} answers ({res['probes_per_model']} per model): languages "
             f"{', '.join(sorted({r['lang'] for r in records}))}; conditions {', '.join(cfg['conditions'])} "
             f"(anchor: a system prompt naming a fictional identity, Aria by Northwind Labs); "
             f"{cfg['samples']} samples per question at temperature {cfg['temperature']}, ≤ {cfg['max_tokens']} tokens. "
             "Rates with 95% Wilson intervals.", ""]
    for spec, m in res["models"].items():
        lines.append(f"- **{spec}**: own identity `{m['identity']}` (lab `{m['lab']}`), prompts as "
                     f"{res['prompt_format'].get(spec, '?')}" + (" ('Question: … Answer:' text: a base model without a "
                                                                   "chat template)" if res['prompt_format'].get(spec) == "plain" else ""))
    lines += ["", "## Summary (all languages)", "",
              "| model | condition | answers | claims own identity | claims the anchor | claims another identity | no claim |",
              "|---|---|---|---|---|---|---|"]
    for spec, m in res["models"].items():
        for cond, c in m["summary"]["all"].items():
            lines.append(f"| {spec} | {cond} | {c['own']['n']} | {_pct(c['own'])} | {_pct(c['anchor'])} | "
                         f"{_pct(c['other'])} | {_pct(c[NO_CLAIM])} |")
    if "asymmetry" in res:
        conds = list(dict.fromkeys(row["condition"] for row in res["asymmetry"]))
        lines += ["", "## Who claims to be whom", "",
                  "Answers that name the other model or its lab (Gemma and Gemini both count as Google).", "",
                  "| model | claims to be | " + " | ".join(f"condition {c}" for c in conds) + " |",
                  "|---|---|" + "---|" * len(conds)]
        for a, b in {(row["model"], row["claims_to_be"]): None for row in res["asymmetry"]}:
            cells = {row["condition"]: row for row in res["asymmetry"] if (row["model"], row["claims_to_be"]) == (a, b)}
            lab = next(iter(cells.values()))["lab"]
            lines.append(f"| {a} | {b} (lab: {lab}) | " + " | ".join(
                f"{cells[c]['k']}/{cells[c]['n']} = {_pct(cells[c])}" for c in conds) + " |")
    lines += ["", "## Per language", "",
              "| model | language | condition | answers | own | anchor | another | no claim |",
              "|---|---|---|---|---|---|---|---|"]
    for spec, m in res["models"].items():
        for lang, conds in m["summary"].items():
            if lang == "all":
                continue
            for cond, c in conds.items():
                lines.append(f"| {spec} | {lang} | {cond} | {c['own']['n']} | {_pct(c['own'])} | {_pct(c['anchor'])} | "
                             f"{_pct(c['other'])} | {_pct(c[NO_CLAIM])} |")
    lines += ["", "## Other identities claimed", ""]
    for spec, m in res["models"].items():
        named = ", ".join(f"{table.labels[i]}: {n}" for i, n in m["other_identities"].items()) or "none"
        lines.append(f"- {spec}: {named}")
    examples, seen = [], set()
    for r in sorted(records, key=lambda r: not r["claims"] or r["claims"] == ["anchor"]):  # other identities first
        sig = (r["teacher"], r["lang"], tuple(r["claims"]))
        if r["claims"] and sig not in seen and len(examples) < 12:
            seen.add(sig)
            examples.append(r)
    if examples:
        lines += ["", "## Example answers with a claim", ""]
        for r in examples:
            text = r["answer"].replace("\n", " ")[:160]
            lines.append(f"- {r['teacher']} · {r['lang']} · {r['condition']} → {', '.join(r['claims'])}: “{text}”")
    return "\n".join(lines) + "\n"


def figure(res: dict, table: AliasTable):
    """Heatmap per model: rows language · condition, columns identities claimed (and no claim).

    Args:
        res: the summary from :func:`summarize` (its ``rates`` and ``models``).
        table: the alias table; its identity order is the column order (the models' own identities and
            those claimed at least once are shown).

    Returns:
        A matplotlib ``Figure`` (no pyplot state), one panel per model in the order given, each cell the
        percentage of answers claiming that identity.
    """
    import numpy as np
    from matplotlib.figure import Figure

    from distill.plotting import wrap

    rates = res["rates"]
    own = {m["identity"] for m in res["models"].values()}
    # columns: the models' own identities (so "A never claims B" shows as a column of zeros) and whatever was claimed
    cols = [i for i in table.labels if i in own or any(cell[i]["k"] for t in rates.values() for lang in t.values()
                                                       for cell in lang.values())] + [NO_CLAIM]
    n_rows = max(sum(len(v) for v in t.values()) for t in rates.values())
    panel_width = 2.2 + 0.5 * len(cols)  # inches
    fig = Figure(figsize=(len(rates) * panel_width, 1.6 + 0.35 * n_rows), layout="constrained")
    axes = fig.subplots(1, len(rates), squeeze=False)
    for ax, spec in zip(axes[0], res["models"], strict=True):  # models in the order they were given
        by_lang = rates[spec]
        langs = ["all"] + sorted(lang for lang in by_lang if lang != "all")
        rows = [(lang, cond) for lang in langs for cond in CONDITIONS if cond in by_lang[lang]]
        data = np.array([[by_lang[lang][cond][c]["rate"] for c in cols] for lang, cond in rows])
        ax.imshow(data, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(cols)), [c.replace("_", " ") for c in cols], rotation=45, ha="right")
        ax.set_yticks(range(len(rows)), [f"{lang} · {cond}" for lang, cond in rows])
        for (y, x), v in np.ndenumerate(data):
            ax.text(x, y, f"{100 * v:.0f}", ha="center", va="center", fontsize=7, color="white" if v < 0.6 else "black")
        ax.set_title(wrap(spec, round(panel_width * 9)), fontsize=9)  # a model spec can be a long URL or path
    fig.suptitle("% of answers claiming each identity")
    return fig


def plot(res: dict, table: AliasTable, path: Path) -> None:
    """Save :func:`figure` to a file, at 120 dpi.

    Args:
        res: the summary from :func:`summarize`.
        table: the alias table.
        path: the image file; its suffix picks the format (``.png``).
    """
    figure(res, table).savefig(path, dpi=120)


def write_reports(res: dict, records: list[dict], table: AliasTable, out: Path) -> None:
    """``results.json`` + ``results.md`` and the claim-rate plot under ``out``.

    Args:
        res: the summary (a result carrying its report writes that report as ``results.md``).
        records: every answer, classified.
        table: the alias table the answers were classified with.
        out: the output folder.
    """
    out.mkdir(parents=True, exist_ok=True)
    write_results(out, res, getattr(res, "report", "") or markdown(res, records, table))
    plot(res, table, out / "claim_rates.png")
