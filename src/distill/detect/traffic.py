"""`distill detect traffic`: find distillation campaigns (hydra account clusters) in API logs.

Flow: validate and load the logs (bad records counted, skipped, shown) → feature SQL per account
(DuckDB or Spark) → classify a hash-chosen sample of each account's prompts (chain-of-thought /
capability extraction) → individual suspicion per account → account graph over shared keys of two
kinds → per cluster the evidence (links, prompts, bursts, launch-day retargeting, IP rotation) →
score; flag clusters with enough accounts and enough independent evidence.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm.auto import tqdm

from distill.config import check, doc, to_dict

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrafficConfig:
    """Settings of `distill detect traffic`."""

    logs: tuple[str, ...] = doc("log files or folders (.jsonl / .parquet)", flag="logs", default=())
    out: str = doc("output folder: accounts.csv, clusters.json, report.html, summary.json, candidates.csv",
                   default="runs/detect")
    engine: Literal["duckdb", "spark"] = doc("SQL engine: embedded DuckDB, or Spark SQL (pip install pyspark)",
                                             default="duckdb")
    spark_master: str = doc("Spark master URL (engine spark)", default="local[2]")
    memory_limit: str = doc("DuckDB memory limit; beyond it DuckDB spills to disk under OUT/work", default="4GB")
    threads: int = doc("DuckDB threads (0: all cores)", default=0)
    sample_per_account: int = doc("prompts classified per account (hash-chosen sample)", default=12)
    suspicious: float = doc("individual suspicion at which an account may join a cluster", default=0.5)
    min_accounts: int = doc("smallest cluster flagged as an operator (hydra: many accounts)", default=5)
    flag_score: float = doc("cluster score at which a cluster is flagged", default=0.75)
    keep_work: bool = doc("keep the DuckDB database and staged files under OUT/work", default=False)

    def __post_init__(self):
        check(len(self.logs) > 0, "logs", self.logs, "at least one log file or folder")
        check(self.sample_per_account >= 1, "sample_per_account", self.sample_per_account, "≥ 1")
        check(0 < self.suspicious < 1, "suspicious", self.suspicious, "in (0, 1)")
        check(self.min_accounts >= 2, "min_accounts", self.min_accounts, "≥ 2")
        check(0 < self.flag_score <= 1, "flag_score", self.flag_score, "in (0, 1]")
        check(bool(re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]i?B", self.memory_limit)), "memory_limit", self.memory_limit,
              "a size such as 4GB or 512MB")
        check(self.threads >= 0, "threads", self.threads, "≥ 0")


def template_keys(prompts: list[str]) -> tuple[list[str], list[str]]:
    """Head and tail of each prompt with numbers and punctuation erased: the fixed parts of a template."""
    heads, tails = [], []
    for p in prompts:
        w = re.sub(r"[\d\W_]+", " ", p.lower()).split()
        heads.append("h:" + " ".join(w[:4]))
        tails.append("t:" + " ".join(w[-4:]))
    return heads, tails


def individual(acc, cot_weight: float = 0.7, rot_weight: float = 0.4):
    """Suspicion of one account on its own, in [0, 1]: noisy-or of extraction prompts and IP rotation.

    Neither alone proves much (researchers ask for reasoning; travellers change networks), which
    is why an account is only flagged through a cluster. Accounts sharing no IP block or payment
    id with anybody cannot join a cluster; their prompts are not read (cot_share 0).
    """
    cot = np.minimum(1, acc["cot_share"].fillna(0) / 0.5)
    rot = np.minimum(1, np.maximum(0, acc["n_blocks"] - 1) / 4) * (acc["n_req"] >= 3)
    return 1 - (1 - cot_weight * cot) * (1 - rot_weight * rot)


class Stages:
    """Times each stage; one progress bar over the stages."""

    def __init__(self, names):
        self.bar = tqdm(total=len(names), desc="scan", disable=None)
        self.seconds: dict[str, float] = {}
        self._t = time.perf_counter()

    def done(self, name: str):
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


def classify_sample(eng, per_account: int):
    """Per account: sampled prompts, extraction share, template keys of its extraction prompts."""
    import pandas as pd

    from distill.detect import prompts as P

    shares, keys, examples = [], [], []
    sql = "SELECT * FROM (" + _sql("sample", per_account=per_account) + ") s"
    for chunk in tqdm(eng.batches(sql), desc="prompts", unit="batch", disable=None):
        texts = chunk["prompt"].astype(str).tolist()
        chunk["cot"] = P.classify(texts)
        shares.append(chunk.groupby("account_id").agg(n_sampled=("cot", "size"), n_cot=("cot", "sum")))
        hit = chunk[chunk["cot"] == 1]
        if len(hit):
            h, t = template_keys(hit["prompt"].astype(str).tolist())
            ids = hit["account_id"].tolist()
            keys.append(pd.DataFrame({"account_id": ids * 2, "k": h + t}))
            examples.append(hit[["account_id", "prompt"]].drop_duplicates("account_id"))
    share = pd.concat(shares).groupby(level=0).sum() if shares else pd.DataFrame(columns=["n_sampled", "n_cot"])
    tk = pd.concat(keys) if keys else pd.DataFrame(columns=["account_id", "k"])
    tk = tk.groupby(["account_id", "k"]).size().rename("n").reset_index().assign(ktype="template")
    ex = pd.concat(examples).drop_duplicates("account_id") if examples else pd.DataFrame(columns=["account_id", "prompt"])
    return share, tk, ex


def run(cfg: TrafficConfig) -> dict:
    import pandas as pd

    from distill.detect import graph
    from distill.detect.evidence import cluster_table, describe
    from distill.detect.report import write_report
    from distill.detect.schema import BadRows

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    work = out / "work"
    t0 = time.perf_counter()
    st = Stages(["load", "validate", "events", "features", "prompts", "graph", "sync", "write"])
    eng = _engine(cfg, work)
    bad = BadRows()
    try:
        eng.load(cfg.logs, bad)
        st.done("load")
        eng.table("valid")
        for reason, n in eng.frame("SELECT reason, count(*) AS n FROM (" + _sql("bad") + ") b GROUP BY reason").values:
            ex = eng.frame(f"SELECT _file, _line FROM ({_sql('bad')}) b WHERE reason = '{reason}' "
                           "ORDER BY _file, _line LIMIT 3")
            bad.counts[reason] += int(n)
            bad.examples.setdefault(reason, []).extend(
                {"file": f, "line": None if pd.isna(li) else int(li)} for f, li in ex.values)
        st.done("validate")
        eng.table("events")
        st.done("events")
        for name in ("launches", "accounts", "gaps", "launch_use", "keys", "linkable"):
            eng.table(name)
        acc = eng.frame("SELECT * FROM accounts").set_index("account_id")
        if acc.empty:
            raise ValueError(f"no valid records in {list(cfg.logs)}: {bad.summary()['by_reason']}")
        acc = acc.join(eng.frame("SELECT * FROM gaps").set_index("account_id"))
        acc = acc.join(eng.frame("SELECT * FROM launch_use").set_index("account_id"))
        launches = eng.frame("SELECT * FROM launches")
        keys = eng.frame("SELECT * FROM keys")
        st.done("features")
        share, tkeys, examples = classify_sample(eng, cfg.sample_per_account)
        acc = acc.join(share)
        acc["cot_share"] = (acc["n_cot"] / acc["n_sampled"]).fillna(0.0)
        acc["s"] = individual(acc)
        st.done("prompts")
        susp = acc["s"] >= cfg.suspicious
        strong = graph.strong_keys(pd.concat([keys, tkeys], ignore_index=True), susp)
        members, links = graph.components(strong)
        st.done("graph")
        eng.register("candidates", members)
        sync = graph.sync_share(eng.frame(_sql("sync")))
        st.done("sync")
        clusters = cluster_table(acc, members, links, strong, keys, sync, launches, cfg)
        acc_out = acc.join(members.set_index("account_id"))
        acc_out = acc_out.join(clusters.set_index("comp")[["score", "flagged", "cluster"]], on="comp")
        acc_out["flagged"] = acc_out["flagged"].fillna(False).astype(int)
        # score: the cluster's for members of a candidate cluster, half the own suspicion otherwise;
        # capped below the flag threshold unless flagged (small clusters can score high on evidence)
        sc = np.where(acc_out["comp"].notna(), acc_out["score"].astype(float).fillna(0), 0.5 * acc_out["s"])
        acc_out["score"] = np.where(acc_out["flagged"] == 1, sc, np.minimum(sc, cfg.flag_score - 0.01)).round(4)
        acc_out["cluster"] = np.where(acc_out["flagged"] == 1, acc_out["cluster"], "")
        acc_out.index.name = "account_id"
        acc_out[["score", "flagged", "cluster"]].sort_values("score", ascending=False).to_csv(out / "accounts.csv")
        # every candidate cluster with its evidence, flagged or not: what a reviewer tunes thresholds on
        clusters[clusters["size"] >= 2].drop(columns=["comp"]).to_csv(out / "candidates.csv", index=False,
                                                                      float_format="%.4g")
        flagged = clusters[clusters["flagged"]]
        cl_json = [describe(row, members, acc, examples, links, strong, keys) for _, row in flagged.iterrows()]
        (out / "clusters.json").write_text(json.dumps(cl_json, indent=2, ensure_ascii=False))
        summary = {
            "records": int(acc["n_req"].sum()), "accounts": len(acc), "skipped": bad.summary(),
            "flagged_accounts": int(acc_out["flagged"].sum()), "clusters": len(cl_json),
            "candidate_clusters": int(len(clusters)), "engine": cfg.engine,
            "launches": launches.assign(first_seen=pd.to_datetime(launches["first_t"], unit="s", utc=True)
                                        .dt.strftime("%Y-%m-%dT%H:%M:%SZ"))[["model", "first_seen"]]
                                 .to_dict("records"),
            "stage_seconds": st.seconds, "seconds": round(time.perf_counter() - t0, 1),
            "out": str(out), "config": to_dict(cfg),
        }
        write_report(out / "report.html", summary, acc_out, clusters, cl_json, eng)
        st.done("write")
        summary["stage_seconds"] = st.seconds
        summary["seconds"] = round(time.perf_counter() - t0, 1)
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
        return summary
    finally:
        eng.close()
        if not cfg.keep_work:
            import shutil

            shutil.rmtree(work, ignore_errors=True)


def _sql(name: str, **params) -> str:
    from distill.detect.engine import sql_text

    return sql_text(name, **params)
