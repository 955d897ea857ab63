"""`distill detect simulate`: request logs of a sampled scenario, with the truth, in bounded memory.

Records are drawn in blocks of :data:`~.records.BLOCK` (each from its own generator) and written
``--chunk`` records per file, so a 16M-record world needs memory for one file, not for the logs,
and the records do not depend on the chunk size.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Literal

import numpy as np

from distill.config import check, doc, settings, to_dict
from distill.detect.scenarios import output as O
from distill.detect.scenarios.accounts import KIND
from distill.detect.scenarios.knobs import ACCOUNT_KINDS
from distill.detect.scenarios.network import cidr
from distill.detect.scenarios.population import World, build
from distill.detect.scenarios.presets import PRESETS
from distill.detect.scenarios.records import BLOCK, block
from distill.detect.scenarios.sample import RANGE_SETS, sample
from distill.results import Result

Preset = Literal[tuple(PRESETS)]  # the CLI's choices come from the registries
RangeSet = Literal[tuple(RANGE_SETS)]


@settings
class ScenarioConfig:
    """Settings of `distill detect simulate`."""

    records: int = doc("number of log records (requests) to write", default=100_000, ge=100)
    seed: int = doc("random seed: the same seed (and settings) writes byte-identical files", default=0)
    preset: Preset = doc("the world: default, careful, low_and_slow, filler, paraphrase, all_four, no_campaign or "
                         "random (every knob from the ranges)", default="default")
    ranges: RangeSet = doc("range set the knobs are drawn from (heldout: for evaluation only)",
                                            default="dev")
    set: tuple[str, ...] = doc("knob overrides KEY=VALUE (VALUE may be lo:hi or a,b,c); opN.KEY for operator N, "
                               "e.g. --set filler=0.85 op2.proxy=relay operators=3", default=())
    format: Literal["parquet", "jsonl"] = doc("log file format", default="parquet")
    chunk: int = doc("records per log file (bounds memory: about 0.5 GB at 250,000)", default=250_000, ge=100)
    out: str = doc("output folder", default="runs/detect-sim")

    def __post_init__(self):
        check(self.preset in PRESETS, "preset", self.preset, f"one of {sorted(PRESETS)}")
        check(bool(self.out), "out", self.out, "an output folder (--out DIR)")


def chunks(records: int, chunk: int) -> list[tuple[int, int]]:
    """[start, end) of each file.

    Args:
        records: the total number of records.
        chunk: the records per file (the last file may hold fewer).

    Returns:
        The record ranges, in order, covering [0, records) without overlap; [] when records is 0.
    """
    return [(s, min(s + chunk, records)) for s in range(0, records, chunk)]


class Blocks:
    """Records [start, end) assembled from the blocks that cover them (keeping the last block).

    Args:
        world: the scenario's world, whose records are drawn block by block.
    """

    def __init__(self, world: World):
        self.world, self.cached = world, (-1, None)

    def get(self, i: int):
        """Block ``i``, drawn (or reused when it was the last one asked for).

        Args:
            i: the block number.

        Returns:
            ``(cols, acct, filler)`` as :func:`~distill.detect.scenarios.records.block` gives them.
        """
        if self.cached[0] != i:
            self.cached = (i, block(self.world, i))
        return self.cached[1]

    def range(self, start: int, end: int):
        """Records [start, end), cut from the blocks that cover them and joined.

        Args:
            start: the first record's index, ≥ 0.
            end: one past the last record's index, start < end ≤ the scenario's record count.

        Returns:
            ``(cols, acct, filler)`` for those ``end − start`` records: the log columns (numpy arrays, or
            lists for the columns a block gives as lists), each record's account row, and its filler flag.
        """
        parts = []
        for b in range(start // BLOCK, (end - 1) // BLOCK + 1):
            cols, acct, filler = self.get(b)
            lo, hi = max(start - b * BLOCK, 0), min(end - b * BLOCK, BLOCK)
            parts.append(({c: v[lo:hi] for c, v in cols.items()}, acct[lo:hi], filler[lo:hi]))
        cols = {c: np.concatenate([p[0][c] for p in parts]) if isinstance(parts[0][0][c], np.ndarray)
                else [x for p in parts for x in p[0][c]] for c in parts[0][0]}
        return cols, np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])


class ScenarioResult(Result):
    """What `distill detect simulate` returns (also ``OUT/simulation.json``, without paths)."""

    records: int
    accounts: int
    accounts_by_kind: dict
    operators: dict
    logs: str
    truth: str
    config: dict

    def summary(self) -> str:
        return (f"{self['records']:,} records from {self['accounts']:,} accounts "
                f"({self['accounts_by_kind']['campaign']:,} campaign accounts of {len(self['operators'])} operators) "
                f"→ {self['logs']}; truth in {self['truth']}")


def run(cfg: ScenarioConfig) -> ScenarioResult:
    """Sample the scenario, draw its world, and write its logs and truth under ``cfg.out``.

    Writes ``logs/part-NNNNN.{parquet,jsonl}`` (``cfg.chunk`` records each; old parts are removed first),
    ``truth.csv`` (campaign accounts and their operator), ``kinds.csv`` (every account's kind),
    ``accounts_meta.parquet``, ``privacy_relays.txt`` (relay CIDRs), ``scenario.json`` (the knobs) and
    ``simulation.json`` (the counts, without paths). The same config writes byte-identical files.

    Args:
        cfg: the run's settings.

    Returns:
        The counts of :func:`summary`, with the paths of the logs and the truth.

    Raises:
        ValueError: a preset, range set, ``--set`` key or knob value is not allowed (the message names it).
    """
    from distill.progress import bar as progress_bar

    sc = sample(cfg.records, cfg.seed, cfg.preset, cfg.ranges, cfg.set)
    world = build(sc)
    acc = world.acc
    out = Path(cfg.out)
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for old in list(logs.glob("part-*")) + list(logs.glob(".part-*")):
        old.unlink()
    seen = np.zeros(len(acc), bool)
    per_account = np.zeros(len(acc), np.int64)
    filler_by_op: Counter = Counter()
    parts = chunks(cfg.records, cfg.chunk)
    blocks = Blocks(world)
    ext = "parquet" if cfg.format == "parquet" else "jsonl"
    with progress_bar(total=cfg.records, desc="simulate", unit="rec") as bar:
        for i, (s, e) in enumerate(parts):
            cols, acct, filler = blocks.range(s, e)
            seen[acct] = True
            per_account += np.bincount(acct, minlength=len(acc))
            for g, n in zip(*np.unique(acc.group[acct[filler]], return_counts=True), strict=True):
                filler_by_op[int(g)] += int(n)
            path = logs / f"part-{i:05d}.{ext}"
            (O.write_parquet if cfg.format == "parquet" else O.write_jsonl)(path, cols)
            bar.update(e - s)
    rows = np.flatnonzero(seen)
    rows = rows[np.argsort(acc.ids[rows])]  # files sorted by account id
    camp = rows[acc.kind[rows] == KIND["campaign"]]
    O.atomic_csv(out / "truth.csv", ["account_id", "operator", "operator_kind"],
                 zip(acc.ids[camp], acc.operator[camp], acc.op_kind[camp], strict=True))
    O.atomic_csv(out / "kinds.csv", ["account_id", "kind"],
                 ((a, ACCOUNT_KINDS[k]) for a, k in zip(acc.ids[rows], acc.kind[rows], strict=True)))
    O.write_meta(out / "accounts_meta.parquet", acc, rows)
    O.atomic_text(out / "privacy_relays.txt", "".join(cidr(int(b)) + "\n" for b in sorted(world.net.relays.tolist())))
    O.atomic_text(out / "scenario.json", json.dumps(sc.to_dict(), indent=2) + "\n")
    res = ScenarioResult(summary(cfg, world, seen, per_account, filler_by_op, len(parts)))
    counts = {k: v for k, v in res.items() if k not in ("logs", "truth")}  # no paths: same world, same bytes
    counts["config"] = {k: v for k, v in res["config"].items() if k != "out"}
    O.atomic_text(out / "simulation.json", json.dumps(counts, indent=2) + "\n")
    return res


def summary(cfg: ScenarioConfig, world: World, seen, per_account, filler_by_op, files: int) -> dict:
    """The counts of a written simulation.

    Args:
        cfg: the run's settings.
        world: the scenario's world.
        seen: (accounts,) bool, True for accounts that sent at least one record.
        per_account: (accounts,) int64 records sent by each account.
        filler_by_op: operator index → number of its filler records.
        files: the number of log files written.

    Returns:
        A JSON-plain dict: ``config``, ``records``, ``files``, ``logs`` and ``truth`` paths, ``accounts``
        (those seen), ``accounts_by_kind`` and ``records_by_kind``, per operator (by name) its kind,
        accounts, records, filler share, proxy type and pool size, ``volume_scale``, ``new_model``,
        ``launch_day`` and ``privacy_relay_ranges``.
    """
    acc = world.acc
    ops = {}
    for i, r in enumerate(world.ops):
        m = (acc.kind == KIND["campaign"]) & (acc.group == i)
        n_rec = int(per_account[m].sum())
        ops[r.op.name] = {"kind": r.op.kind, "accounts": int((m & seen).sum()), "records": n_rec,
                          "filler_share": round(filler_by_op[i] / max(n_rec, 1), 4), "proxy": r.op.proxy,
                          "pool_blocks": int(len(r.pool)) if r.pool is not None else 0}
    return {"config": to_dict(cfg), "records": cfg.records, "files": files, "logs": str(Path(cfg.out) / "logs"),
            "truth": str(Path(cfg.out) / "truth.csv"), "accounts": int(seen.sum()),
            "accounts_by_kind": {k: int((seen & (acc.kind == i)).sum()) for i, k in enumerate(ACCOUNT_KINDS)},
            "records_by_kind": {k: int(per_account[acc.kind == i].sum()) for i, k in enumerate(ACCOUNT_KINDS)},
            "operators": ops, "volume_scale": world.volume_scale, "new_model": "atlas-2", "launch_day": world.sc.launch_day,
            "privacy_relay_ranges": int(len(world.net.relays))}
