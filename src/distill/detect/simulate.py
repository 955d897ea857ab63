"""`distill detect simulate`: synthetic API logs with genuine users, decoys and hydra campaigns.

The population (who exists, how much each sends, from where, paying how) is drawn once from the
seed; records are then drawn in chunks of ``chunk`` rows and written as Parquet (or JSONL) files,
so 16M records take bounded memory. Written from what public reporting says campaigns look like,
not from what the detector measures:

* genuine users: heavy-tailed (Pareto) volumes, diurnal timing in their own time zone, a few
  favourite topics, own payment (or free tier), home IP with occasional mobile hops, ~3% of their
  prompts ask for step-by-step solutions (homework);
* decoys: hundreds of users behind one corporate/university NAT block (one org pays centrally;
  in scenario b one org is a university course whose students ask for step-by-step homework help),
  heavy batch users (one account, clockwork timing, one prompt template, datacenter IP), and
  benchmark researchers (one to three accounts per lab, MMLU-like chain-of-thought items in
  evaluation sessions, trying the new model on launch day);
* hydra campaigns: hundreds to thousands of accounts, each request from a rotating proxy pool,
  payment ids partly shared, paraphrased extraction / chain-of-thought templates that sweep all
  topics, benign-looking filler, bursts fired together, and one campaign moving half its traffic
  to a newly launched model within a day.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from distill.config import check, doc, settings
from distill.detect import simtext as T
from distill.progress import bar

log = logging.getLogger(__name__)

START = np.datetime64("2026-02-01T00:00:00", "s")
DAY = 86_400
MODELS = ("atlas-1", "atlas-1-mini")
NEW_MODEL = "atlas-2"

BENIGN, NAT, BATCH, RESEARCH, CAMPAIGN = range(5)
KIND_NAMES = ("benign", "nat", "batch", "research", "campaign")

# Two differently parameterised worlds. Shares are of records; accounts are per million records.
SCENARIOS = {
    "a": dict(
        campaigns=[  # accounts per 1M records, share of records, filler share, accounts per payment id, proxy blocks
            dict(accounts=900, share=0.14, filler=0.25, per_payment=10, blocks=48, retarget=True, residential=0.0),
            dict(accounts=450, share=0.10, filler=0.40, per_payment=3, blocks=20, retarget=False, residential=0.0),
            dict(accounts=150, share=0.05, filler=0.30, per_payment=20, blocks=12, retarget=False, residential=0.2),
        ],
        nat_orgs=3, nat_users=(150, 400), nat_share=0.06, batch_accounts=3, batch_share=0.07,
        labs=4, research_share=0.02, benign_per_account=80, days=14, launch_day=9,
    ),
    "b": dict(
        campaigns=[
            dict(accounts=1400, share=0.12, filler=0.50, per_payment=6, blocks=90, retarget=False, residential=0.5),
            dict(accounts=300, share=0.07, filler=0.20, per_payment=40, blocks=10, retarget=True, residential=0.0),
            dict(accounts=120, share=0.04, filler=0.60, per_payment=4, blocks=16, retarget=False, residential=0.0),
            dict(accounts=60, share=0.02, filler=0.30, per_payment=2, blocks=6, retarget=True, residential=0.3),
            dict(accounts=40, share=0.02, filler=0.45, per_payment=8, blocks=5, retarget=False, residential=0.0),
        ],
        nat_orgs=5, nat_users=(100, 600), nat_share=0.09, batch_accounts=5, batch_share=0.10, course_org=1,
        labs=7, research_share=0.03, benign_per_account=60, days=10, launch_day=6,
    ),
}


@settings
class SimulateConfig:
    """Settings of `distill detect simulate`."""

    records: int = doc("number of log records (exchanges) to write", default=100_000, ge=1000)
    seed: int = doc("random seed: the same seed writes the same logs", default=0)
    out: str = doc("output folder (logs/ and truth.csv are written there)", default="runs/detect-sim")
    scenario: Literal["a", "b"] = doc("population mix: a (3 campaigns) or b (5 campaigns, other sizes)", default="a")
    format: Literal["parquet", "jsonl"] = doc("log file format", default="parquet")
    chunk: int = doc("records per output file (bounds memory)", default=500_000, ge=1000)

    def __post_init__(self):
        check(bool(self.out), "out", self.out, "an output folder (--out DIR)")


@dataclass
class Population:
    """One row per account: everything drawn once from the seed."""

    account: np.ndarray  # str ids
    kind: np.ndarray  # int kind codes
    group: np.ndarray  # int: campaign index, NAT org, lab, or -1
    weight: np.ndarray  # share of records
    block: np.ndarray  # home /24 block id (int), -1 for campaigns
    tz: np.ndarray  # hours offset from UTC
    payment: list  # str | None
    ua: list
    system: list
    topics: np.ndarray  # (accounts, 3) favourite topic indices
    operator: list  # truth: "" or campaign name


def _block_ip(block: np.ndarray, host: np.ndarray) -> list[str]:
    """Block ids → dotted IPv4 (blocks ≥ 2**23 become IPv6 /48 prefixes)."""
    out = []
    for b, h in zip(block.tolist(), host.tolist(), strict=True):
        if b >= 1 << 23:
            out.append(f"2a02:{(b >> 12) & 0xfff:x}:{b & 0xfff:x}:{h:x}::{(h * 7919) & 0xffff:x}")
        else:
            out.append(f"{11 + (b >> 16) % 200}.{(b >> 8) & 255}.{b & 255}.{1 + h % 254}")
    return out


def population(cfg: SimulateConfig) -> tuple[Population, dict]:
    """Draw every account of the scenario once from the seed, and the world they act in.

    Args:
        cfg: the simulation's settings (scenario and seed are read here).

    Returns:
        (population, world): the accounts, and the scenario's settings with its drawn campaigns and labs.
    """
    sc = SCENARIOS[cfg.scenario]
    rng = np.random.default_rng([cfg.seed, 1])
    scale = cfg.records / 1e6
    rows: dict[str, list] = {k: [] for k in ("kind", "group", "weight", "block", "tz", "payment", "ua", "system", "op")}
    n_pay = [0]

    def pay():
        n_pay[0] += 1
        return f"pay_{rng.integers(1 << 40):010x}{n_pay[0]}"

    def add(kind, group, weight, block, tz, payment, ua, system, op=""):
        for k, v in zip(rows, (kind, group, weight, block, tz, payment, ua, system, op), strict=True):
            rows[k].append(v)

    camp_share = sum(c["share"] for c in sc["campaigns"])
    benign_share = 1 - camp_share - sc["nat_share"] - sc["batch_share"] - sc["research_share"]
    n_benign = max(50, int(cfg.records * benign_share / sc["benign_per_account"]))
    vol = np.minimum(rng.pareto(1.3, n_benign) + 1, 2000.0)  # heavy-tailed volumes
    vol *= benign_share / vol.sum()
    res_blocks = rng.integers(0, 1 << 22, n_benign)  # residential /24s, some shared by chance
    v6 = rng.random(n_benign) < 0.1
    res_blocks[v6] = (1 << 23) + rng.integers(0, 1 << 20, v6.sum())
    for i in range(n_benign):
        add(BENIGN, -1, vol[i], res_blocks[i], int(rng.integers(-8, 10)), pay() if rng.random() < 0.7 else None,
            T.BROWSER_UA[rng.integers(4)] if rng.random() < 0.8 else T.SDK_UA[rng.integers(5)],
            T.SYSTEM_PROMPTS[rng.integers(len(T.SYSTEM_PROMPTS))])
    for org in range(sc["nat_orgs"]):
        n = int(rng.integers(*sc["nat_users"]))
        w = rng.lognormal(0, 1.0, n)
        w *= sc["nat_share"] / sc["nat_orgs"] / w.sum()
        block = int(rng.integers(1 << 22, 1 << 23))
        central = pay() if org == 0 else None  # one org pays centrally for everybody
        tz = int(rng.integers(-6, 9))
        for i in range(n):
            add(NAT, org, w[i], block + (i % 2 if org % 2 else 0), tz, central or pay(),
                T.BROWSER_UA[org % 4], None if rng.random() < 0.7 else "You are our company's internal assistant.")
    bw = rng.dirichlet(np.ones(sc["batch_accounts"])) * sc["batch_share"]
    for i in range(sc["batch_accounts"]):
        add(BATCH, i, bw[i], int(rng.integers(1 << 22, 1 << 23)), 0, pay(), f"acme-batch/{i}.2", None)
    for lab in range(sc["labs"]):
        n = int(rng.integers(1, 4))
        block, lab_pay = int(rng.integers(1 << 22, 1 << 23)), pay()
        for _ in range(n):
            add(RESEARCH, lab, sc["research_share"] / sc["labs"] / n, block, 0, lab_pay, "lm-eval-harness/0.4.5",
                None)
    campaigns = []
    for ci, c in enumerate(sc["campaigns"]):
        n = max(8, int(round(c["accounts"] * scale)))
        pays = [pay() for _ in range(max(1, n // c["per_payment"]))]
        pool = rng.integers(1 << 22, 1 << 23, c["blocks"])
        n_res = int(c["residential"] * c["blocks"])  # residential proxies: real users' home blocks
        pool[:n_res] = rng.choice(res_blocks[~v6], n_res)
        tmpl = rng.choice(len(T.CAMPAIGN), int(rng.integers(4, 8)), replace=False)
        uas = [T.SDK_UA[rng.integers(5)], T.BROWSER_UA[rng.integers(4)], f"Mozilla/5.0 (compatible; rq{ci}/2.{ci})"]
        syst = [None, T.CAMPAIGN_SYSTEM[rng.integers(len(T.CAMPAIGN_SYSTEM))]]
        w = rng.lognormal(0, 0.6, n)
        w *= c["share"] / w.sum()
        name = f"op{ci + 1}"
        for i in range(n):
            add(CAMPAIGN, ci, w[i], -1, 0, pays[rng.integers(len(pays))] if rng.random() < 0.8 else None,
                uas[rng.integers(3)], syst[rng.integers(2)], name)
        n_bursts = int(sc["days"] * rng.uniform(3, 6))
        campaigns.append(dict(c, pool=pool, templates=tmpl, name=name,
                              bursts=np.sort(rng.uniform(0, sc["days"] * DAY - 3600, n_bursts)),
                              burst_len=rng.uniform(600, 2400, n_bursts)))
    labs = [np.sort(rng.uniform(0, sc["days"] * DAY - 4 * 3600, 8)) for _ in range(sc["labs"])]
    w = np.asarray(rows["weight"], float)
    perm = rng.permutation(len(w))  # account ids carry no hint of their kind
    ids = np.array([f"acct_{x:07d}" for x in perm])
    pop = Population(ids, np.asarray(rows["kind"]), np.asarray(rows["group"]), w / w.sum(),
                     np.asarray(rows["block"]), np.asarray(rows["tz"]), rows["payment"], rows["ua"], rows["system"],
                     rng.integers(0, len(T.TOPICS), (len(w), 3)), rows["op"])
    return pop, dict(sc, campaigns=campaigns, labs=labs)


DIURNAL = np.array([1, .6, .4, .3, .3, .4, .8, 1.5, 2.5, 3.5, 4, 4, 3.5, 3.8, 4, 4, 3.8, 3.5, 3.5, 3.8, 3.5, 3, 2.2, 1.5])


def _times(rng, pop: Population, acct: np.ndarray, world: dict) -> np.ndarray:
    """Seconds since START for each record, by the sender's kind."""
    n, days = len(acct), world["days"]
    kind = pop.kind[acct]
    t = rng.uniform(0, days * DAY, n)
    human = (kind == BENIGN) | (kind == NAT)
    if human.any():
        hours = rng.choice(24, human.sum(), p=DIURNAL / DIURNAL.sum())
        day = rng.integers(0, days, human.sum())
        t[human] = (day * DAY + (hours - pop.tz[acct[human]]) * 3600 + rng.uniform(0, 3600, human.sum())) % (days * DAY)
    b = kind == BATCH
    if b.any():  # clockwork: a fixed grid per account with a little jitter
        grid = 30.0 + 7 * pop.group[acct[b]]
        t[b] = np.floor(t[b] / grid) * grid + rng.normal(0, 0.5, b.sum())
    r = np.flatnonzero(kind == RESEARCH)
    for i in r:  # evaluation sessions of about three hours
        starts = world["labs"][pop.group[acct[i]]]
        t[i] = starts[rng.integers(len(starts))] + rng.uniform(0, 3 * 3600)
    for ci, c in enumerate(world["campaigns"]):
        m = np.flatnonzero((kind == CAMPAIGN) & (pop.group[acct] == ci))
        burst = rng.random(len(m)) < 0.7  # most traffic fired together in bursts
        k = rng.integers(0, len(c["bursts"]), burst.sum())
        t[m[burst]] = c["bursts"][k] + rng.uniform(0, 1, burst.sum()) * c["burst_len"][k]
    return np.clip(t, 0, days * DAY - 1)


def _models(rng, pop, acct, t, world) -> np.ndarray:
    launch = world["launch_day"] * DAY
    kind = pop.kind[acct]
    model = np.where(rng.random(len(acct)) < 0.8, MODELS[0], MODELS[1]).astype(object)
    model[kind == BATCH] = MODELS[1]
    after = np.clip((t - launch) / DAY, 0, None)
    p_new = np.where(kind == RESEARCH, 0.5 * (after > 0), 0.15 * np.minimum(after / 3, 1))
    for ci, c in enumerate(world["campaigns"]):
        if c["retarget"]:
            m = (kind == CAMPAIGN) & (pop.group[acct] == ci)
            p_new[m] = 0.5 * np.minimum(after[m] * 2, 1)  # half the traffic, ramped over 12 h
    p_new[kind == BATCH] = 0
    model[(rng.random(len(acct)) < p_new) & (t >= launch)] = NEW_MODEL
    return model


def _prompts(rng, pop, acct, world) -> tuple[list[str], np.ndarray]:
    """Prompt texts and expected completion lengths."""
    out, compl = [], np.empty(len(acct))
    kinds = pop.kind[acct]
    u = rng.random(len(acct))
    topic_any = rng.integers(0, len(T.TOPICS), len(acct))
    fav = pop.topics[acct, rng.integers(0, 3, len(acct))]
    nums = rng.integers(2, 60, len(acct))
    pick = rng.integers(0, 1 << 30, len(acct))
    for i, k in enumerate(kinds.tolist()):
        n = int(nums[i])
        if k == CAMPAIGN:
            c = world["campaigns"][pop.group[acct[i]]]
            if u[i] < c["filler"]:
                s = T.BENIGN[pick[i] % len(T.BENIGN)].format(t=T.TOPICS[topic_any[i]], n=n)
                compl[i] = 250
            else:
                tm = T.CAMPAIGN[c["templates"][pick[i] % len(c["templates"])]]
                s = (T.PREFIXES[(pick[i] >> 4) % 7].format(n=n) + tm.format(t=T.TOPICS[topic_any[i]])
                     + T.SUFFIXES[(pick[i] >> 8) % 6])
                compl[i] = 1400
        elif k == RESEARCH:
            s = T.BENCH[pick[i] % 3].format(s=T.BENCH_SUBJECTS[(pick[i] >> 3) % 8], t=T.TOPICS[topic_any[i]], n=n)
            compl[i] = 450
        elif k == BATCH:
            s = T.BATCH.format(n=int(pick[i] % 100000), m=n)
            compl[i] = 180
        elif k == NAT and pop.group[acct[i]] == world.get("course_org", -1) and u[i] < 0.5:
            s = T.HOMEWORK[pick[i] % len(T.HOMEWORK)].format(t=T.TOPICS[fav[i]], n=n)
            compl[i] = 500
        else:
            bank = T.WORK if (k == NAT and u[i] < 0.6) else T.BENIGN
            s = bank[pick[i] % len(bank)].format(t=T.TOPICS[fav[i]], n=n)
            compl[i] = 260
        out.append(s)
    return out, compl


def chunk_table(cfg: SimulateConfig, pop: Population, world: dict, index: int, size: int):
    """Records of chunk ``index`` as a pyarrow Table.

    Args:
        cfg: the simulation's settings.
        pop: the accounts, from :func:`population`.
        world: the world, from :func:`population`.
        index: the chunk's number; with ``cfg.seed`` it seeds the chunk's draws.
        size: records in the chunk.

    Returns:
        The pyarrow Table of ``size`` records.
    """
    import pyarrow as pa

    rng = np.random.default_rng([cfg.seed, 2, index])
    acct = rng.choice(len(pop.weight), size, p=pop.weight)
    t = _times(rng, pop, acct, world)
    model = _models(rng, pop, acct, t, world)
    prompts, compl = _prompts(rng, pop, acct, world)
    kind = pop.kind[acct]
    block = pop.block[acct].copy()
    home = rng.random(size) < 0.9
    mobile = (kind == BENIGN) & ~home
    block[mobile] = rng.integers(0, 1 << 22, mobile.sum())
    for ci, c in enumerate(world["campaigns"]):
        m = (kind == CAMPAIGN) & (pop.group[acct] == ci)
        block[m] = c["pool"][rng.integers(0, len(c["pool"]), m.sum())]  # a proxy per request
    hosts = rng.integers(0, 1 << 16, size)
    ptok = np.array([len(p) for p in prompts]) // 4 + rng.integers(5, 40, size)
    ctok = np.maximum(5, rng.lognormal(np.log(compl), 0.5)).astype(np.int64)
    ts = START + t.astype("timedelta64[s]")
    return pa.table({
        "ts": pa.array(ts.astype("datetime64[us]"), pa.timestamp("us", tz="UTC")),
        "request_id": [f"req_{cfg.seed:x}_{index:x}_{i:x}" for i in range(size)],
        "account_id": pop.account[acct],
        "ip": _block_ip(block, hosts),
        "payment_id": [pop.payment[a] for a in acct.tolist()],
        "user_agent": [pop.ua[a] for a in acct.tolist()],
        "model": model.tolist(),
        "system_prompt": [pop.system[a] for a in acct.tolist()],
        "prompt": prompts,
        "prompt_tokens": ptok.astype(np.int64),
        "completion_tokens": ctok,
    })


def write_truth(out: Path, pop: Population, seen: np.ndarray) -> None:
    """Write ``truth.csv`` (account_id, operator) and ``kinds.csv`` (account_id, kind) for the accounts seen.

    Args:
        out: the output folder.
        pop: the accounts.
        seen: boolean mask (accounts,) of the accounts with at least one record.
    """
    with open(out / "truth.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["account_id", "operator"])
        w.writerows((pop.account[i], pop.operator[i]) for i in np.flatnonzero(seen))
    with open(out / "kinds.csv", "w", newline="") as f:  # which accounts are decoys (for false-positive rates)
        w = csv.writer(f)
        w.writerow(["account_id", "kind"])
        w.writerows((pop.account[i], KIND_NAMES[pop.kind[i]]) for i in np.flatnonzero(seen))


def run(cfg: SimulateConfig) -> dict:
    """Simulate the logs into ``cfg.out/logs`` (old parts deleted), with the truth files and ``simulation.json``.

    Args:
        cfg: the simulation's settings.

    Returns:
        The summary written to ``simulation.json`` (without scenario and seed): records, files, logs,
        truth, accounts, campaign_accounts, decoy_accounts, new_model, launch.
    """
    import pyarrow.parquet as pq

    out = Path(cfg.out)
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for old in list(logs.glob("part-*")):
        old.unlink()
    pop, world = population(cfg)
    seen = np.zeros(len(pop.weight), bool)
    order = np.argsort(pop.account)
    n_chunks = -(-cfg.records // cfg.chunk)
    for i in bar(range(n_chunks), desc="simulate"):
        size = min(cfg.chunk, cfg.records - i * cfg.chunk)
        table = chunk_table(cfg, pop, world, i, size)
        seen[order[np.searchsorted(pop.account, table["account_id"].to_numpy(), sorter=order)]] = True
        if cfg.format == "parquet":
            pq.write_table(table, logs / f"part-{i:05d}.parquet", compression="zstd")
        else:
            with open(logs / f"part-{i:05d}.jsonl", "w") as f:
                for r in table.to_pylist():
                    r["ts"] = r["ts"].strftime("%Y-%m-%dT%H:%M:%SZ")
                    f.write(json.dumps(r, ensure_ascii=False) + "\n")
    write_truth(out, pop, seen)
    n_op = {c["name"]: int(((pop.kind == CAMPAIGN) & (pop.group == ci) & seen).sum())
            for ci, c in enumerate(world["campaigns"])}
    res = {"records": cfg.records, "files": n_chunks, "logs": str(logs), "truth": str(out / "truth.csv"),
           "accounts": int(seen.sum()), "campaign_accounts": n_op,
           "decoy_accounts": {KIND_NAMES[k]: int(((pop.kind == k) & seen).sum()) for k in (NAT, BATCH, RESEARCH)},
           "new_model": NEW_MODEL, "launch": str(START + np.timedelta64(world["launch_day"] * DAY, "s")) + "Z"}
    (out / "simulation.json").write_text(json.dumps(res | {"scenario": cfg.scenario, "seed": cfg.seed}, indent=2))
    return res
