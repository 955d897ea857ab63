"""The world of one scenario: accounts, addresses, writers and schedules, drawn once from the seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from distill.detect.scenarios import honest as H
from distill.detect.scenarios.accounts import KIND, Accounts, Builder
from distill.detect.scenarios.extraction_text import OperatorWriter
from distill.detect.scenarios.honest_text import BatchWriter
from distill.detect.scenarios.knobs import Scenario
from distill.detect.scenarios.network import Network, block_of, with_host
from distill.detect.scenarios.operators import OperatorRun, operator, pool_size

MIN_BENIGN = 0.3


@dataclass
class World:
    sc: Scenario
    acc: Accounts
    net: Network
    ops: list[OperatorRun]
    writers: list[OperatorWriter]
    classes: list[dict]
    labs: list[dict]
    batch: list[BatchWriter]
    company_system: list[str]
    cum_weight: np.ndarray  # cumulative share of records by account
    volume_scale: float  # records / expected records: < 1 when the knobs ask for more records than written


def build(sc: Scenario) -> World:
    """Draw the scenario's world from its seed: the network, every honest population, the operators'
    accounts and proxy pools, and the prompt writers.

    Ordinary users fill whatever the other populations leave of ``sc.records``, and send at least
    ``MIN_BENIGN`` of the expected records; when the knobs ask for more than ``sc.records``,
    ``volume_scale`` (records / expected records) is < 1 and every population's rate is scaled down by it.

    Args:
        sc: a sampled scenario, with its ``honest`` populations set.

    Returns:
        The world; the same ``sc`` (seed included) always gives the same world.
    """
    assert sc.honest is not None
    h, days = sc.honest, sc.days
    rng = np.random.default_rng([sc.seed, 1])
    net = Network(rng, carriers=max(1, h.cgnats))
    b = Builder(days)
    class_info = H.classes(b, rng, net, h, days)
    company_system = H.companies(b, rng, net, h, days)
    H.cgnat(b, rng, net, h, days)
    H.relay_users(b, rng, net, h, days)
    batch = H.batch(b, rng, net, h, days, sc.records)
    labs = H.labs(b, rng, net, h, days, sc.launch_day, sc.records)
    ops = [operator(b, rng, op, i, days) for i, op in enumerate(sc.operators)]
    # ordinary users fill the rest, and send at least MIN_BENIGN of the records (else all rates scale down)
    n_benign = max(30, int(round(max(sc.records - b.total(), MIN_BENIGN * sc.records) / h.benign_volume)))
    H.ordinary(b, rng, net, h, n_benign, days)
    acc = b.freeze(rng)
    ordinary = {  # addresses ordinary users have, by the proxy type that can reuse them
        "residential": np.concatenate([acc.home[acc.kind == KIND["benign"]], acc.alt[acc.kind == KIND["class"]],
                                       acc.alt[acc.kind == KIND["nat"]]]),
        "datacenter": np.concatenate([acc.home[(acc.kind == KIND["benign"]) & np.isin(block_of(acc.home), net.cloud)],
                                      acc.home[acc.kind == KIND["batch"]]]),
        "mobile": np.concatenate(net.carriers),
        "relay": net.relays_used,
    }
    for run in ops:
        op = run.op
        run.pool = net.pool(op.provider, op.proxy, op.pool_overlap, ordinary[op.proxy], pool_size(op))
        n = run.rows.stop - run.rows.start
        acc.home[run.rows] = with_host(run.pool[rng.integers(0, len(run.pool), n)], rng)  # sticky address
    writers = [OperatorWriter(r.op, rng) for r in ops]
    w = acc.weight.astype(float)
    return World(sc, acc, net, ops, writers, class_info, labs, batch, company_system, np.cumsum(w / w.sum()),
                 round(sc.records / w.sum(), 4))
