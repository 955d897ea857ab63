"""report.html of `distill detect traffic`: numbers, plots and the evidence per cluster."""

from __future__ import annotations

import base64
import html
import io
import math


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    # Constrained layout keeps the legends placed below the axes inside the figure.
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots()


def shift_figure(r):
    """MMD of each (hour, model) window against its baseline, over time, with the threshold.

    Args:
        r: the shift table (columns h, model, mmd2, threshold, shifted), one row per hour × model.

    Returns:
        The matplotlib figure: MMD² / threshold per model over time, shifted windows marked.
    """

    from distill.plotting import legend_below

    models = r["model"].nunique()
    fig, ax = _figure(8, 3.2 + 0.2 * math.ceil(models / 3))  # room for the legend's rows
    for model, g in r.groupby("model", sort=True):
        x = _hours_as_dates(g["h"])
        ratio = g["mmd2"] / g["threshold"].where(g["threshold"] > 0)
        line = ax.plot(x, ratio, lw=0.8, label=str(model))[0]
        hit = g["shifted"] == 1
        ax.scatter(x[hit], ratio[hit], s=12, color=line.get_color())
    ax.axhline(1.0, color="k", lw=0.6, ls="--")
    ax.set_ylabel("MMD² / threshold")
    ax.set_title("Traffic shift per hour and model (above the dashed line: shifted)")
    _date_ticks(ax)
    legend_below(ax, columns=min(models, 3), fontsize=7)
    return fig


def _date_ticks(ax) -> None:
    # Concise dates fit under the axes without the slanted labels of autofmt_xdate, which
    # constrained layout does not leave room for.
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _shift_plot(summary) -> list[str]:
    import pandas as pd

    f = summary.get("shift", {}).get("file")
    if not f:
        return []
    r = pd.read_csv(f)
    return [] if r.empty else [_png(shift_figure(r))]


def score_figure(acc_out):
    """Histogram of account scores (log count), flagged and not flagged stacked.

    Args:
        acc_out: the accounts table, columns score and flagged (bool).

    Returns:
        The matplotlib figure.
    """
    fig, ax = _figure(6, 3)
    ax.hist([acc_out.loc[acc_out["flagged"] == 0, "score"], acc_out.loc[acc_out["flagged"] == 1, "score"]],
            bins=40, stacked=True, label=["not flagged", "flagged"], log=True)
    ax.set_xlabel("account score"), ax.set_ylabel("accounts"), ax.legend()
    ax.set_title("Account scores")
    return fig


def evidence_figure(fl):
    """Stacked evidence bars of (at most 20) flagged clusters, legend below.

    Args:
        fl: flagged clusters, column cluster and the e_* strengths, one row per cluster.

    Returns:
        The matplotlib figure.
    """
    import pandas as pd

    from distill.plotting import legend_below

    cols = [c for c in fl.columns if c.startswith("e_")]
    fig, ax = _figure(7, 0.35 * len(fl) + 2.2 + 0.2 * math.ceil(len(cols) / 3))
    left = pd.Series(0.0, index=fl.index)
    for c in cols:
        ax.barh(fl["cluster"], fl[c], left=left, label=c[2:])
        left += fl[c]
    ax.invert_yaxis(), ax.set_xlabel("evidence strength (stacked)")
    ax.set_title("Evidence per flagged cluster")
    legend_below(ax, columns=3, fontsize=7)
    return fig


def traffic_figure(hours):
    """Requests per hour, flagged accounts against the rest.

    Args:
        hours: columns h (hours since the epoch), n (requests) and n_flagged (of them, by flagged accounts).

    Returns:
        The matplotlib figure.
    """
    fig, ax = _figure(8, 3)
    x = _hours_as_dates(hours["h"])
    ax.plot(x, hours["n"] - hours["n_flagged"], lw=0.8, label="other accounts")
    ax.plot(x, hours["n_flagged"], lw=0.8, label="flagged accounts")
    ax.set_ylabel("requests per hour"), ax.legend(), ax.set_title("Traffic over time (bursts show as spikes)")
    _date_ticks(ax)
    return fig


def _hours_as_dates(hours):
    import pandas as pd

    return pd.to_datetime(hours * 3600, unit="s")


def _plots(acc_out, clusters, eng) -> list[str]:
    figs = [_png(score_figure(acc_out))]
    fl = clusters[clusters["flagged"]].head(20)
    if len(fl):
        figs.append(_png(evidence_figure(fl)))
        eng.register("flagged_accounts", acc_out.loc[acc_out["flagged"] == 1, ["cluster"]].reset_index())
        hours = eng.frame("SELECT floor(e.t / 3600) AS h, count(*) AS n, "
                          "sum(CASE WHEN f.account_id IS NULL THEN 0 ELSE 1 END) AS n_flagged "
                          "FROM events e LEFT JOIN flagged_accounts f ON e.account_id = f.account_id "
                          "GROUP BY floor(e.t / 3600) ORDER BY h")
        figs.append(_png(traffic_figure(hours)))
    return figs


def write_report(path, summary: dict, acc_out, clusters, cl_json: list, eng) -> None:
    """Write the scan's HTML report: summary, skipped records, plots and the flagged clusters' evidence.

    Args:
        path: the HTML file to write (a ``Path``).
        summary: the scan's summary (records, accounts, flagged_accounts, clusters, candidate_clusters,
            engine, skipped, and the shift results if any).
        acc_out: the accounts table (index account_id; score, flagged, cluster).
        clusters: the community table of :func:`distill.detect.evidence.community_table`.
        cl_json: the flagged clusters as :func:`distill.detect.evidence.describe` gives them.
        eng: the engine holding the ``events`` table (for the traffic plot).
    """
    e = html.escape
    sk = summary["skipped"]

    def where(reason):
        return "; ".join(f"{x['file']}:{x['line']}" for x in sk["examples"].get(reason, []))

    rows = "".join(f"<tr><td>{e(r)}</td><td>{n:,}</td><td>{e(where(r))}</td></tr>"
                   for r, n in sk["by_reason"].items()) or "<tr><td colspan=3>none</td></tr>"
    parts = [
        "<!doctype html><meta charset='utf-8'><title>distill detect traffic</title>",
        "<style>body{font-family:sans-serif;max-width:1000px;margin:auto}td,th{border:1px solid #ccc;padding:3px}"
        "table{border-collapse:collapse}li{margin:2px 0}</style>",
        "<h1>Distillation traffic scan</h1>",
        f"<p>{summary['records']:,} valid records from {summary['accounts']:,} accounts; "
        f"<b>{summary['flagged_accounts']:,} accounts flagged in {summary['clusters']} operator clusters</b> "
        f"({summary['candidate_clusters']} candidate clusters examined). Engine: {e(summary['engine'])}.</p>",
        "<p>A flag means: a community of accounts linked by what they share (weighed by how rare it is), "
        "whose prompts extract reasoning or capabilities and which operates like a campaign (IP rotation, "
        "machine volumes, waves of short-lived accounts, bursts in step); or one account with extraction "
        "and rotation or suspicious metadata on its own. It is a lead for a reviewer, not a verdict.</p>",
        f"<h2>Skipped records: {sk['total']:,}</h2><table><tr><th>reason</th><th>count</th><th>examples (file:line)</th>"
        f"</tr>{rows}</table>",
        "<h2>Plots</h2>", *_plots(acc_out, clusters, eng), *_shift_plot(summary),
        "<h2>Flagged clusters</h2>",
    ]
    for c in cl_json:
        parts.append(f"<h3>{e(c['cluster'])}: {c['accounts']:,} accounts, {c['requests']:,} requests, "
                     f"score {c['score']:.2f}</h3><ul>" + "".join(f"<li>{e(x)}</li>" for x in c["evidence"]) + "</ul>")
        if c.get("example_prompts"):
            parts.append("<p>Example prompts:</p><ul>" + "".join(f"<li><code>{e(p)}</code></li>"
                                                                  for p in c["example_prompts"]) + "</ul>")
    path.write_text("\n".join(parts), encoding="utf-8")
