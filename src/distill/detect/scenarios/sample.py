"""Draw a :class:`~.knobs.Scenario` from a range set, a preset and ``--set`` overrides."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from distill.config import check
from distill.detect.scenarios.dist import I, U, as_spec
from distill.detect.scenarios.knobs import (
    CARD_MODES,
    HONEST_FIELDS,
    OPERATOR_KINDS,
    PROXY_TYPES,
    SHAPES,
    Honest,
    Operator,
    Scenario,
)
from distill.detect.scenarios.languages import LANGS
from distill.detect.scenarios.presets import PRESETS

RANGE_SETS = {"dev": "distill.detect.scenarios.ranges", "heldout": "distill.detect.scenarios.heldout"}
SIZE_KNOBS = {"accounts": 3, "class_size": 20, "cgnat_users": 20, "company_size": 10, "relay_users": 10}
EXTRA_KEYS = {"kinds", "operators", "rate"}  # set-able keys that are not range names


def range_set(name: str) -> dict:
    """The knob ranges of a named range set.

    Args:
        name: "dev" (for development and tuning) or "heldout" (for evaluation only).

    Returns:
        Knob name → value or spec (see :func:`~distill.detect.scenarios.dist.as_spec`).

    Raises:
        ValueError: ``name`` is not a range set.
    """
    check(name in RANGE_SETS, "ranges", name, f"one of {sorted(RANGE_SETS)}")
    return importlib.import_module(RANGE_SETS[name]).RANGES


def parse_value(text: str) -> Any:
    """``--set`` value: true/false, a number, ``lo:hi`` (a range), ``a,b,c`` (a tuple) or text.

    Args:
        text: the part after ``=``; surrounding whitespace is ignored.

    Returns:
        A bool (case-insensitive true/false); :class:`~.dist.I` for two integers ``lo:hi``, :class:`~.dist.U`
        for other numeric ranges; a tuple of parsed values (empty items dropped); an int or float; else
        the stripped text (a ``:`` between non-numbers stays text).
    """
    t = text.strip()
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    if ":" in t:
        lo, hi = (parse_value(x) for x in t.split(":", 1))
        if isinstance(lo, (int, float)) and isinstance(hi, (int, float)):
            return I(lo, hi) if isinstance(lo, int) and isinstance(hi, int) else U(float(lo), float(hi))
    if "," in t:
        return tuple(parse_value(x) for x in t.split(",") if x.strip())
    for cast in (int, float):
        try:
            return cast(t)
        except ValueError:
            pass
    return t


def parse_sets(items: tuple[str, ...] | list[str], ranges: dict) -> dict[str, Any]:
    """``("filler=0.85", "op2.proxy=relay")`` → ``{"filler": 0.85, "op2.proxy": "relay"}``, keys checked.

    Args:
        items: ``KEY=VALUE`` strings; ``opN.KEY`` sets a knob of operator N (1-based) only. An item without
            ``=`` is joined to the previous one with a comma (a ``kinds=a,b`` split by a YAML reader).
        ranges: the range set, whose names (with ``EXTRA_KEYS`` and the honest-population fields) are the
            allowed keys.

    Returns:
        Key → value parsed by :func:`parse_value`, in the order given (a repeated key: the last wins).

    Raises:
        ValueError: an item has no ``=``, or its key is not a knob name.
    """
    known = set(ranges) | EXTRA_KEYS | HONEST_FIELDS
    joined: list[str] = []
    for item in items:  # "kinds=a,b" may arrive split at its commas (a YAML string read as a tuple)
        if "=" not in item and joined:
            joined[-1] += "," + item
        else:
            joined.append(item)
    out = {}
    for item in joined:
        check("=" in item, "set", item, "KEY=VALUE")
        key, val = (s.strip() for s in item.split("=", 1))
        base = key.split(".", 1)[1] if key.startswith("op") and "." in key else key
        check(base in known, "set", key, f"a knob name (opN.KNOB for one operator), one of {sorted(known)}")
        out[key] = parse_value(val)
    return out


class _Draw:
    """Knob values in a fixed order: ``--set`` over the preset over the range set."""

    def __init__(self, ranges: dict, preset: dict, sets: dict, rng: np.random.Generator):
        self.specs = {**ranges, **preset, **sets}
        self.sets, self.rng = sets, rng

    def __call__(self, key: str, op: int | None = None) -> Any:
        if op is not None and f"op{op + 1}.{key}" in self.sets:
            spec = self.sets[f"op{op + 1}.{key}"]
        else:
            spec = self.specs[key]
        return as_spec(spec).draw(self.rng)

    def given(self, key: str, op: int | None = None) -> bool:
        """Whether ``--set`` names this knob (for all operators or for this one)."""
        return key in self.sets or (op is not None and f"op{op + 1}.{key}" in self.sets)


def _operator(d: _Draw, i: int, scale: float, providers: list[int]) -> Operator:
    kind = d("kind", i)
    kinds = d.specs.get("kinds")
    if kinds and not d.given("kind", i):
        kind = kinds[i % len(kinds)] if isinstance(kinds, tuple) else kinds
    accounts = d("accounts", i)  # per million records, unless given (then as is)
    accounts = int(accounts) if d.given("accounts", i) else max(SIZE_KNOBS["accounts"], round(accounts * scale))
    shared = d("shared_provider", i)
    provider = int(providers[int(d.rng.integers(len(providers)))]) if shared and providers else len(providers)
    providers.append(provider)
    paraphrase = bool(d("paraphrase", i))
    pool = tuple(d.specs["language_pool"])
    n_lang = int(d("languages", i))
    if paraphrase:
        langs = ("en",) + tuple(x for x in d.rng.permutation([p for p in pool if p != "en"]))[: max(0, n_lang - 1)]
    else:
        langs = ("en",) if d.rng.random() < 0.7 else (str(pool[int(d.rng.integers(len(pool)))]),)
    shape = d("shape", i)
    rate = d(f"rate_{shape}", i)
    if d.given("rate", i):
        rate = d("rate", i)
    shared_sys = d("shared_system", i)
    low = d("lifetime_low", i)
    span = d("lifetime_span", i)
    return Operator(
        name=f"op{i + 1}", kind=kind, accounts=accounts, proxy=d("proxy", i), provider=provider,
        pool_overlap=d("pool_overlap", i), ip_fresh=d("ip_fresh", i), card_mode=d("card_mode", i),
        accounts_per_card=int(d("accounts_per_card", i)), filler=d("filler", i), paraphrase=paraphrase,
        languages=tuple(str(x) for x in langs), english_share=d("english_share", i), templates=int(d("templates", i)),
        shared_system=shared_sys, own_system=min(d("own_system", i), round(1 - shared_sys, 4)), shape=shape,
        rate=float(rate), active_share=d("active_share", i), lifetime=(round(low, 2), round(low + span, 2)),
        waves=int(d("waves", i)), program=str(d("program", i)), retarget=bool(d("retarget", i)),
        retarget_share=d("retarget_share", i), browser_ua=d("browser_ua", i), tz=int(d("tz", i)))


def _honest(d: _Draw, scale: float) -> Honest:
    def size(key: str) -> int:
        v = d(key)
        return int(v) if key in d.sets else max(SIZE_KNOBS[key], round(v * scale))

    classes = int(d("classes"))
    companies = int(d("companies"))
    return Honest(
        benign_volume=d("benign_volume"), benign_datacenter=d("benign_datacenter"),
        benign_agent_devs=d("benign_agent_devs"), classes=classes,
        class_size=tuple(size("class_size") for _ in range(classes)), class_rate=d("class_rate"),
        class_signup_weeks_before=d("class_signup_weeks_before"), roommates=d("roommates"), cgnats=int(d("cgnats")),
        cgnat_users=size("cgnat_users"), companies=companies,
        company_size=tuple(size("company_size") for _ in range(companies)), batch=int(d("batch")),
        batch_share=d("batch_share"), labs=int(d("labs")), lab_accounts=int(d("lab_accounts")),
        relay_users=size("relay_users"))


def sample(records: int, seed: int, preset: str = "default", ranges: str = "dev",
           sets: tuple[str, ...] | list[str] = ()) -> Scenario:
    """The scenario of (records, seed, preset, ranges, sets): the same arguments give the same scenario.

    Knobs are drawn in a fixed order, ``--set`` over the preset over the range set; population sizes
    given per million records are scaled to ``records`` (sizes given by ``--set`` are used as they are).

    Args:
        records: the number of log records the scenario is for.
        seed: the random seed.
        preset: a name in ``PRESETS`` (e.g. "default", "no_campaign", "random").
        ranges: a name in ``RANGE_SETS``.
        sets: ``KEY=VALUE`` overrides, as for :func:`parse_sets`.

    Returns:
        The scenario, checked by :func:`validate`.

    Raises:
        ValueError: the preset, range set or a ``--set`` key is unknown, or a drawn knob is out of range.
    """
    check(preset in PRESETS, "preset", preset, f"one of {sorted(PRESETS)}")
    spec = range_set(ranges)
    d = _Draw(spec, PRESETS[preset], parse_sets(sets, spec), np.random.default_rng([seed, 0]))
    scale = records / 1e6
    days = int(d("days"))
    launch = round(d("launch_day") * days, 3)
    n_ops = int(d("operators"))
    providers: list[int] = []
    ops = [_operator(d, i, scale, providers) for i in range(n_ops)]
    sc = Scenario(preset=preset, ranges=ranges, seed=seed, records=records, days=days, launch_day=launch,
                  operators=ops, honest=_honest(d, scale))
    validate(sc)
    return sc


def validate(sc: Scenario) -> None:
    """Every knob in its allowed set, naming the knob and the value otherwise.

    Args:
        sc: the scenario, with its honest populations set.

    Raises:
        ValueError: a knob is out of range; the message names it (``op2.filler`` for an operator's) and
            its value.
    """
    check(1 <= sc.days <= 120, "days", sc.days, "an integer in [1, 120]")
    check(0 < sc.launch_day < sc.days, "launch_day", sc.launch_day, f"inside the window (0, {sc.days})")
    check(0 <= len(sc.operators) <= 50, "operators", len(sc.operators), "in [0, 50]")
    for o in sc.operators:
        n = o.name
        check(o.kind in OPERATOR_KINDS, f"{n}.kind", o.kind, f"one of {list(OPERATOR_KINDS)}")
        check(o.proxy in PROXY_TYPES, f"{n}.proxy", o.proxy, f"one of {list(PROXY_TYPES)}")
        check(o.shape in SHAPES, f"{n}.shape", o.shape, f"one of {list(SHAPES)}")
        check(o.card_mode in CARD_MODES, f"{n}.card_mode", o.card_mode, f"one of {list(CARD_MODES)}")
        check(o.accounts >= 1, f"{n}.accounts", o.accounts, "≥ 1")
        check(o.accounts_per_card >= 1, f"{n}.accounts_per_card", o.accounts_per_card, "≥ 1")
        for k in ("pool_overlap", "ip_fresh", "english_share", "shared_system", "own_system", "active_share",
                  "retarget_share", "browser_ua"):
            check(0 <= getattr(o, k) <= 1, f"{n}.{k}", getattr(o, k), "in [0, 1]")
        check(0 <= o.filler <= 0.95, f"{n}.filler", o.filler, "in [0, 0.95]")
        check(o.shared_system + o.own_system <= 1, f"{n}.shared_system + own_system",
              o.shared_system + o.own_system, "≤ 1")
        check(o.rate > 0, f"{n}.rate", o.rate, "> 0")
        check(0 < o.lifetime[0] <= o.lifetime[1], f"{n}.lifetime", o.lifetime, "0 < low ≤ high")
        check(o.waves >= 1, f"{n}.waves", o.waves, "≥ 1")
        for lang in o.languages:
            check(lang in LANGS, f"{n}.languages", lang, f"one of {sorted(LANGS)}")
    h = sc.honest
    assert h is not None
    check(0 <= h.batch_share <= 0.5, "batch_share", h.batch_share, "in [0, 0.5]")
    check(h.benign_volume > 0, "benign_volume", h.benign_volume, "> 0")

