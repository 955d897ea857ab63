"""Records: blocks of ``BLOCK`` requests, each drawn from its own generator, so the logs do not
depend on how they are cut into files (``--chunk``)."""

from __future__ import annotations

import numpy as np

from distill.detect.scenarios import people as P
from distill.detect.scenarios.accounts import KIND
from distill.detect.scenarios.honest_text import everyday, work
from distill.detect.scenarios.network import fmt, with_host
from distill.detect.scenarios.population import World
from distill.detect.scenarios.timing import Clock
from distill.detect.scenarios.vocab import ALL_TOPICS

BLOCK = 8192
START = np.datetime64("2026-03-02T00:00:00", "s")
COMPLETION = {"reasoning": 1500, "sweep": 1200, "agentic": 600, "coding": 1100, "probe": 450}


def _ips(world: World, acct: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    acc, net = world.acc, world.net
    n = len(acct)
    kind = acc.kind[acct]
    ip = acc.home[acct].copy()
    u = rng.random(n)
    phone_blocks = np.concatenate(net.carriers)
    phone = ((kind == KIND["benign"]) & (u > 0.86) & (u < 0.96)) | ((kind == KIND["class"]) & (u > 0.85))
    ip[phone] = with_host(phone_blocks[rng.integers(0, len(phone_blocks), int(phone.sum()))], rng)
    away = (kind == KIND["benign"]) & (u >= 0.96)  # a café, a friend's, travelling
    ip[away] = net.homes(int(away.sum()))
    home = ((kind == KIND["class"]) & (u > 0.5) & (u <= 0.85)) | ((kind == KIND["nat"]) & (u > 0.95))
    ip[home] = acc.alt[acct[home]]
    for k, blocks in enumerate(net.carriers):
        m = (kind == KIND["cgnat"]) & (acc.group[acct] == k)
        ip[m] = with_host(blocks[rng.integers(0, len(blocks), int(m.sum()))], rng)
    m = kind == KIND["privacy_relay"]
    ip[m] = with_host(net.relays_used[rng.integers(0, len(net.relays_used), int(m.sum()))], rng)
    for i, run in enumerate(world.ops):
        m = (kind == KIND["campaign"]) & (acc.group[acct] == i) & (rng.random(n) < run.op.ip_fresh)
        ip[m] = with_host(run.pool[rng.integers(0, len(run.pool), int(m.sum()))], rng)  # a fresh exit per request
    return ip


def _systems(world: World, acct: np.ndarray, u: np.ndarray, pick: np.ndarray) -> list:
    acc = world.acc
    gen = P.GENERIC_SYSTEM
    out: list = [None] * len(acct)
    kind, group, persona = acc.kind[acct], acc.group[acct], acc.persona[acct]
    for i in range(len(acct)):
        k, x = kind[i], u[i]
        if k == KIND["campaign"]:
            op = world.ops[group[i]].op
            if x < op.shared_system:
                out[i] = gen[pick[i] % len(gen)]
            elif x < op.shared_system + op.own_system:
                out[i] = world.ops[group[i]].system
        elif k == KIND["nat"]:
            out[i] = world.company_system[group[i]] if x < 0.7 else None
        elif k == KIND["class"]:
            out[i] = world.classes[group[i]]["writer"].system if x < 0.6 else None
        elif k == KIND["research"]:
            out[i] = gen[0] if group[i] % 2 == 0 else None
        elif k != KIND["batch"] and x < (0.45 if persona[i] in (1, 2) else 0.03):
            out[i] = gen[pick[i] % len(gen)]
    return out


def _prompts(world: World, acct: np.ndarray, t: np.ndarray, R: list[list[int]], filler_u: np.ndarray
             ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Prompt texts, expected completion lengths, and which campaign requests are filler."""
    acc = world.acc
    kind, group, topic = acc.kind[acct].tolist(), acc.group[acct].tolist(), acc.topic[acct].tolist()
    lang, persona = acc.lang[acct], acc.persona[acct].tolist()
    n_top = len(ALL_TOPICS)
    texts: list[str] = []
    compl = np.empty(len(acct))
    filler = np.zeros(len(acct), bool)
    for i, k in enumerate(kind):
        r = R[i]
        fav = ALL_TOPICS[(topic[i] + (r[0] % 3) * 37) % n_top]
        if k == KIND["campaign"]:
            run = world.ops[group[i]]
            if filler_u[i] < run.op.filler:
                filler[i] = True
                texts.append(everyday(r, ALL_TOPICS[r[6] % n_top], lang[i] if r[7] % 3 == 0 else "en"))
                compl[i] = 260
            else:
                texts.append(world.writers[group[i]].write(r, topic[i]))
                compl[i] = COMPLETION[run.op.kind]
        elif k == KIND["class"]:
            c = world.classes[group[i]]
            if r[0] % 10 < 7:
                week = int(np.searchsorted(c["deadlines"], t[i]))
                texts.append(c["writer"].write(r, week))
                compl[i] = 600
            else:
                texts.append(everyday(r, fav, lang[i], 3))
                compl[i] = 300
        elif k == KIND["nat"]:
            texts.append(work(r, fav))
            compl[i] = 320
        elif k == KIND["batch"]:
            texts.append(world.batch[group[i]].write(r))
            compl[i] = 90
        elif k == KIND["research"]:
            texts.append(world.labs[group[i]]["writer"].write(r))
            compl[i] = 350
        else:
            texts.append(everyday(r, fav, lang[i], persona[i]))
            compl[i] = 260
    return texts, compl, filler


def block(world: World, index: int):
    """Records ``index * BLOCK`` … of the logs, as a dict of columns, plus a filler mask.

    Block ``index`` draws from its own generator, seeded with ``(seed, 2, index)``, so a block is the
    same however the logs are split into files.

    Args:
        world: the scenario's world (from :func:`~distill.detect.scenarios.population.build`).
        index: the block number, 0 ≤ index < ceil(records / BLOCK); the last block may be short.

    Returns:
        ``(cols, acct, filler)``: the log columns (``LOG_SCHEMA_FIELDS``: ``ts`` datetime64[us] from
        ``START``, strings, int64 token counts), each of the block's length m; (m,) the account row of each
        record; (m,) bool, True for a campaign request that is ordinary-looking filler.
    """
    sc = world.sc
    size = min(BLOCK, sc.records - index * BLOCK)
    rng = np.random.default_rng([sc.seed, 2, index])
    acct = np.minimum(np.searchsorted(world.cum_weight, rng.random(size), side="right"), len(world.cum_weight) - 1)
    clock = world.__dict__.setdefault("_clock", Clock(world))
    t = clock.times(acct, rng)
    model = clock.models(acct, t, rng)
    ip = _ips(world, acct, rng)
    R = rng.integers(0, 1 << 31, (size, 8)).tolist()
    u = rng.random(size)
    systems = _systems(world, acct, u, rng.integers(0, 1 << 20, size))
    prompts, compl, filler = _prompts(world, acct, t, R, rng.random(size))
    acc = world.acc
    sys_len = np.array([len(s) if s else 0 for s in systems])
    ptok = (np.array([len(p) for p in prompts]) + sys_len) // 4 + rng.integers(3, 12, size)
    ctok = np.maximum(5, rng.lognormal(np.log(compl), 0.45)).astype(np.int64)
    first = index * BLOCK
    cols = {
        "ts": (START + np.round(t).astype("timedelta64[s]")).astype("datetime64[us]"),
        "request_id": [f"req_{sc.seed:x}_{first + i:09x}" for i in range(size)],
        "account_id": acc.ids[acct],
        "ip": [fmt(x) for x in ip.tolist()],
        "payment_id": acc.pay[acct],
        "user_agent": acc.ua[acct],
        "model": model,
        "system_prompt": systems,
        "prompt": prompts,
        "prompt_tokens": ptok.astype(np.int64),
        "completion_tokens": ctok,
    }
    return cols, acct, filler
