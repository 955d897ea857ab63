"""Campaign accounts: each operator's accounts, created in waves, short-lived, paid, proxied."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from distill.detect.scenarios import people as P
from distill.detect.scenarios.accounts import Builder, span_days
from distill.detect.scenarios.knobs import Operator

DAY = 86_400
OWN_SYSTEM = (
    "You are a meticulous expert. Always show your complete reasoning before the answer.",
    "You are a data generation engine. Produce long, detailed, well-structured answers.",
    "Respond as a world-class specialist. Be exhaustive and precise.",
    "You are an autonomous agent. Think before every tool call and narrate your plan.",
    "You are a senior engineer. Write complete, tested code and explain it fully.",
    "Answer every question as completely as possible. Never shorten your answer.",
)
SCRIPT_UAS = ("python-requests/2.31.0", "python-httpx/0.26.0", "OpenAI/Python 1.40.6", "aiohttp/3.9.5",
              "Go-http-client/1.1", "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", "okhttp/4.12.0")


@dataclass
class OperatorRun:
    """What the record writer needs about one operator besides its knobs."""

    op: Operator
    rows: slice
    system: str
    bursts: np.ndarray  # (days, k, 2): burst start (s into the day, UTC) and length (s)
    pool: np.ndarray | None = None  # proxy blocks (set once the ordinary users exist)


def operator(b: Builder, rng: np.random.Generator, op: Operator, index: int, days: int) -> OperatorRun:
    """Add one operator's campaign accounts to the table: signed up in waves, short-lived, paid, scripted.

    Accounts are made in ``op.waves`` waves (from 15% of the window before it to 90% into it), used from
    the day after signup for a lifetime drawn in ``op.lifetime``, and active on ``op.active_share`` of those
    days; cards are shared ``op.accounts_per_card`` to a card unless ``op.card_mode`` is "own".

    Args:
        b: the account table being built.
        rng: the scenario's seeded generator.
        op: the operator's knobs.
        index: the operator's number, stored as the accounts' ``group``.
        days: the scenario's length in days.

    Returns:
        What the record writer needs: the knobs, the accounts' rows, the operator's own system prompt,
        and its daily bursts (days, k, 2) of start (s into the day, UTC) and length (s); ``pool`` is unset.
    """
    n = op.accounts
    waves = np.sort(rng.uniform(-0.15 * days, 0.9 * days, op.waves))
    signup = (waves[rng.integers(0, op.waves, n)] + rng.uniform(0, 0.5, n)) * DAY
    life = rng.uniform(op.lifetime[0], op.lifetime[1], n)
    start = np.clip(np.ceil(signup / DAY), 0, days - 1)  # first used the day after it was made
    end = np.clip(signup / DAY + life, start + 1, days)
    mask = span_days(rng, start, end, days, op.active_share)
    weight = mask.sum(1) * op.rate * rng.lognormal(0, 0.3, n)
    own = op.card_mode == "own"
    per = 1 if own else op.accounts_per_card
    n_cards = -(-n // per)
    card_of = rng.permutation(np.arange(n) % n_cards)
    cards = P.cards(rng, n_cards)[card_of]
    lang = np.full(n, op.languages[0] if op.languages[0] in P.TZ else "en", dtype=object)
    if own:  # one card per account, from the ordinary issuers and countries
        ptype = np.where(rng.random(n) < 0.3, "prepaid", "card").astype(object)
        bins = np.where(ptype == "prepaid", P.choose(rng, P.PREPAID_BINS, n), P.choose(rng, P.BINS, n)).astype(object)
        country = P.pick(rng, P.COUNTRY, P.langs(rng, n))
        mail = P.mails(rng, P.langs(rng, n))
    else:  # a few virtual-card issuers in one or two countries
        ptype = np.where(rng.random(n_cards) < 0.6, "virtual", "prepaid").astype(object)[card_of]
        bins = P.choose(rng, P.PREPAID_BINS[:2] + P.BINS[:1], n_cards)[card_of]
        country = P.choose(rng, ("US", "SG", "HK", "GB")[: int(rng.integers(1, 3))], n_cards)[card_of]
        domain = f"mx{int(rng.integers(1 << 16)):04x}.{('xyz', 'top', 'net', 'io')[int(rng.integers(4))]}"
        mail = np.where(rng.random(n) < 0.5, domain, P.mails(rng, lang)).astype(object)
    uas = SCRIPT_UAS + P.SDKS + (("lm-eval-harness/0.4.5",) if op.kind == "probe" else ())  # look like SDK users
    scripts = tuple(uas[i] for i in rng.permutation(len(uas))[: int(rng.integers(1, 4))])
    browser = rng.random(n) < op.browser_ua
    ua = np.where(browser, P.choose(rng, P.BROWSERS + P.APPS, n), P.choose(rng, scripts, n)).astype(object)
    tz = np.full(n, op.tz) if op.shape != "low_and_slow" else op.tz + rng.integers(-2, 3, n)
    program = np.where(rng.random(n) < 0.7, op.program, "none").astype(object)
    rows = b.add(n, "campaign", mask, group=index, weight=weight, tz=tz, lang=lang, signup=signup, pay=cards, ua=ua,
                 operator=op.name, op_kind=op.kind, payment_type=ptype, payment_bin=bins, payment_country=country,
                 email_domain=mail, program=program, home=np.full(n, -1, np.int64), topic=rng.permutation(n) * 6)
    k = int(rng.integers(2, 7))
    starts = ((rng.uniform(8, 22, (days, k)) - op.tz) % 24) * 3600
    bursts = np.stack([starts, rng.uniform(600, 3600, (days, k))], axis=-1)
    return OperatorRun(op, rows, OWN_SYSTEM[int(rng.integers(len(OWN_SYSTEM)))], bursts)


POOL_SIZE = {"residential": (3.0, 60), "datacenter": (0.05, 4), "mobile": (0.2, 8), "relay": (0.2, 12)}


def pool_size(op: Operator) -> int:
    """How many proxy blocks an operator's pool holds: a per-account share with a floor (``POOL_SIZE``).

    Args:
        op: the operator's knobs (its ``proxy`` type and ``accounts``).

    Returns:
        The number of blocks, ≥ the proxy type's floor (residential: 3 per account, at least 60).
    """
    per_account, floor = POOL_SIZE[op.proxy]
    return int(max(floor, per_account * op.accounts))
