"""The honest populations: ordinary users, carrier-NAT users, privacy-relay users, company staff
behind a gateway, university classes, heavy batch jobs and benchmark labs."""

from __future__ import annotations

import numpy as np

from distill.detect.scenarios import people as P
from distill.detect.scenarios.accounts import Builder, random_days
from distill.detect.scenarios.honest_text import BatchWriter, ClassWriter, LabWriter
from distill.detect.scenarios.knobs import Honest
from distill.detect.scenarios.network import DATACENTER_FIRST, Network, v4_blocks, with_host
from distill.detect.scenarios.vocab import ALL_TOPICS, COMPANIES

DAY = 86_400
BATCH_UAS = ("python-httpx/0.27.2", "OpenAI/Python 1.54.3", "Apache-HttpClient/4.5.14 (Java/17.0.9)", "Go-http-client/2.0",
             "openai-node/4.73.0")


def _volumes(rng, n: int, mean: float) -> np.ndarray:
    """Heavy-tailed requests over the window (lognormal, mean ``mean``)."""
    sigma = 1.1
    return np.clip(rng.lognormal(np.log(mean) - sigma**2 / 2, sigma, n), 1, 80 * mean)


def _human_days(rng, vol: np.ndarray, days: int) -> np.ndarray:
    per_day = rng.uniform(1.5, 6.0, len(vol))
    return random_days(rng, len(vol), days, np.ceil(vol / per_day).astype(int))


def _signup(rng, mask: np.ndarray, new_share: float) -> np.ndarray:
    """Seconds from the window start: most accounts are months or years old; a few join during the
    window, in the day before their first active day (so no request predates its account)."""
    n = len(mask)
    t = -rng.uniform(30, 1500, n) * DAY
    new = rng.random(n) < new_share
    first = mask.argmax(1)
    t[new] = (first[new] - rng.uniform(0, 1, int(new.sum()))) * DAY
    return t


def _card_meta(rng, n: int, lang: np.ndarray, has_card: np.ndarray, tag: str) -> dict:
    pay = P.cards(rng, n)
    pay[~has_card] = None
    u = rng.random(n)
    ptype = np.where(has_card, np.where(u < 0.05, "prepaid", np.where(u < 0.08, "virtual", "card")), "none")
    ptype = ptype.astype(object)
    bins = P.choose(rng, P.BINS, n)
    bins[ptype == "prepaid"] = P.choose(rng, P.PREPAID_BINS, int((ptype == "prepaid").sum()))
    bins[~has_card] = ""
    country = P.pick(rng, P.COUNTRY, lang)
    country[~has_card] = ""
    return {"pay": pay, "payment_type": ptype, "payment_bin": bins, "payment_country": country}


def ordinary(b: Builder, rng, net: Network, h: Honest, n: int, days: int) -> slice:
    """Ordinary users: home broadband (a few on cloud/VPN addresses), own card or free tier.

    Volumes are heavy-tailed (lognormal, mean ``h.benign_volume`` requests over the window); personas are
    0 everyday user (the rest), 1 developer (12%, SDK user agent), 2 agent developer (``h.benign_agent_devs``,
    SDK user agent), 3 student (8%, browser); about 72% have a card, 4% sign up during the window.

    Args:
        b: the account table being built; the accounts are appended to it.
        rng: the scenario's seeded generator.
        net: the scenario's address space.
        h: the sizes of the honest populations.
        n: the number of ordinary users.
        days: the scenario's length in days.

    Returns:
        Their rows in the account table.
    """
    lang = P.langs(rng, n)
    vol = _volumes(rng, n, h.benign_volume)
    u = rng.random(n)
    persona = np.where(u < h.benign_agent_devs, 2, np.where(u < h.benign_agent_devs + 0.12, 1,
                                                             np.where(u < h.benign_agent_devs + 0.2, 3, 0)))
    home = net.homes(n)
    dc = rng.random(n) < h.benign_datacenter
    home[dc] = with_host(net.cloud[rng.integers(0, len(net.cloud), int(dc.sum()))], rng)
    ua = np.where(persona >= 1, P.choose(rng, P.SDKS, n), P.choose(rng, P.BROWSERS + P.APPS, n)).astype(object)
    ua[persona == 3] = P.choose(rng, P.BROWSERS, int((persona == 3).sum()))
    mask = _human_days(rng, vol, days)
    return b.add(n, "benign", mask, weight=vol, tz=P.pick(rng, P.TZ, lang), lang=lang,
                 persona=persona, home=home, signup=_signup(rng, mask, 0.04), ua=ua,
                 topic=rng.integers(0, len(ALL_TOPICS), n), email_domain=P.mails(rng, lang),
                 **_card_meta(rng, n, lang, rng.random(n) < 0.72, "b"))


def cgnat(b: Builder, rng, net: Network, h: Honest, days: int) -> None:
    """Phone users behind each carrier's NAT: many users on a few public addresses.

    Adds ``h.cgnat_users`` accounts for each of the first ``h.cgnats`` carriers (their ``group``), with
    app or mobile-browser user agents and 60% of the ordinary volume.

    Args:
        b: the account table being built; the accounts are appended to it.
        rng: the scenario's seeded generator.
        net: the scenario's address space.
        h: the sizes of the honest populations.
        days: the scenario's length in days.
    """
    for k, blocks in enumerate(net.carriers[: h.cgnats]):
        n = h.cgnat_users
        lang = P.langs(rng, n)
        vol = _volumes(rng, n, h.benign_volume * 0.6)
        mask = _human_days(rng, vol, days)
        b.add(n, "cgnat", mask, group=k, weight=vol, tz=P.pick(rng, P.TZ, lang), lang=lang,
              home=with_host(blocks[rng.integers(0, len(blocks), n)], rng), signup=_signup(rng, mask, 0.05),
              ua=P.choose(rng, P.APPS + P.BROWSERS[-2:], n), topic=rng.integers(0, len(ALL_TOPICS), n),
              email_domain=P.mails(rng, lang), **_card_meta(rng, n, lang, rng.random(n) < 0.6, "m"))


def relay_users(b: Builder, rng, net: Network, h: Honest, days: int) -> None:
    """Privacy-relay users: every request from another relay exit.

    Adds ``h.relay_users`` accounts (Safari or app user agents, mostly icloud.com mail); the exits are
    drawn per request when records are written.

    Args:
        b: the account table being built; the accounts are appended to it.
        rng: the scenario's seeded generator.
        net: the scenario's address space.
        h: the sizes of the honest populations.
        days: the scenario's length in days.
    """
    n = h.relay_users
    lang = P.langs(rng, n)
    vol = _volumes(rng, n, h.benign_volume)
    mask = _human_days(rng, vol, days)
    b.add(n, "privacy_relay", mask, weight=vol, tz=P.pick(rng, P.TZ, lang), lang=lang,
          home=net.homes(n), signup=_signup(rng, mask, 0.04), ua=P.choose(rng, P.BROWSERS[2:4] + P.APPS[:1], n),
          persona=np.where(rng.random(n) < 0.15, 1, 0), topic=rng.integers(0, len(ALL_TOPICS), n),
          email_domain=np.where(rng.random(n) < 0.7, "icloud.com", P.mails(rng, lang)).astype(object),
          **_card_meta(rng, n, lang, rng.random(n) < 0.8, "r"))


def companies(b: Builder, rng, net: Network, h: Honest, days: int) -> list[str]:
    """Staff behind each company's gateway: one invoice, a shared system prompt, weekday hours.

    Args:
        b: the account table being built; the accounts are appended to it.
        rng: the scenario's seeded generator.
        net: the scenario's address space.
        h: the sizes of the honest populations.
            One company per entry of ``h.company_size`` (its staff count), in order (the ``group``).
        days: the scenario's length in days.

    Returns:
        Each company's system prompt, indexed by group.
    """
    systems = []
    for k, n in enumerate(h.company_size):
        name = COMPANIES[k % len(COMPANIES)] + ("" if k < len(COMPANIES) else f" {k}")
        systems.append(f"You are {name}'s internal assistant. Be accurate, cite internal policy where relevant, "
                       f"and never share customer data.")
        gateway = v4_blocks(rng, 1, DATACENTER_FIRST)[0] | int(rng.integers(1, 200))
        lang = np.full(n, P.langs(rng, 1)[0], dtype=object)
        weekday = (np.arange(days) % 7) < 5
        vol = _volumes(rng, n, h.benign_volume)
        mask = _human_days(rng, vol, days) & weekday[None, :] | (rng.random((n, days)) < 0.02)
        invoice = P.cards(rng, 1)[0]  # the company's invoice account
        b.add(n, "nat", mask, group=k, weight=vol, tz=int(P.pick(rng, P.TZ, lang[:1])[0]), lang=lang, home=gateway,
              alt=net.homes(n), signup=-rng.uniform(20, 900, n) * DAY, ua=P.choose(rng, P.BROWSERS[:7] + P.SDKS[:2], n),
              persona=np.where(rng.random(n) < 0.3, 1, 0), topic=rng.integers(0, len(ALL_TOPICS), n),
              pay=invoice, payment_type="invoice", payment_country=str(P.pick(rng, P.COUNTRY, lang[:1])[0]),
              email_domain=name.lower().replace(" ", "") + ".com", program="none")
    return systems


def classes(b: Builder, rng, net: Network, h: Honest, days: int) -> list[dict]:
    """University classes behind the campus NAT: weekly homework, deadline rushes, a TA system prompt,
    roommates sharing a card and a home address, campus / home / phone addresses.

    Args:
        b: the account table being built; the accounts are appended to it.
        rng: the scenario's seeded generator.
        net: the scenario's address space.
        h: the sizes of the honest populations.
            One class per entry of ``h.class_size`` (its student count), in order (the ``group``).
        days: the scenario's length in days.

    Returns:
        Per class, ``{"writer": ClassWriter, "deadlines": float seconds from the window start}``: one
        deadline a week, ``days // 7 + 2`` of them, the last ones past the window's end.
    """
    out = []
    weeks = days // 7 + 1
    campus = v4_blocks(rng, max(1, h.classes), (128, 129, 130, 131, 132, 134, 137, 141, 155))
    for k, n in enumerate(h.class_size):
        lang = np.full(n, P.langs(rng, 1)[0], dtype=object)
        tz = int(P.pick(rng, P.TZ, lang[:1])[0])
        # weekly deadline: weekday and hour (local), e.g. Friday 23:59
        deadline_day, deadline_hour = int(rng.integers(0, 7)), float(rng.choice([12.0, 17.0, 23.98]))
        deadlines = np.array([(w * 7 + deadline_day) * DAY + (deadline_hour - tz) * 3600 for w in range(weeks + 1)])
        sessions = rng.uniform(1, 3, n)  # homework sessions per week
        in_window = np.clip((deadlines < days * DAY).sum(), 1, None)
        vol = sessions * h.class_rate * in_window * rng.lognormal(0, 0.4, n)
        start = min(-h.class_signup_weeks_before * 7 * DAY, days * DAY / 3)
        signup = start + rng.uniform(0, min(10, days / 4) * DAY, n)  # the first days of term
        home = net.homes(n)
        pay = P.cards(rng, n)
        room = rng.permutation(n)
        pairs = room[: int(h.roommates * n) // 2 * 2].reshape(-1, 2)
        home[pairs[:, 1]] = home[pairs[:, 0]]
        pay[pairs[:, 1]] = pay[pairs[:, 0]]
        free = rng.random(n) < 0.3
        pay[free] = None
        program = np.where(rng.random(n) < 0.35, "education", "none").astype(object)
        uni = f"uni{k + 1}.edu"
        meta = {"payment_type": np.where(free, "none", "card").astype(object),
                "payment_bin": np.where(free, "", P.choose(rng, P.BINS, n)).astype(object),
                "payment_country": np.where(free, "", P.pick(rng, P.COUNTRY, lang)).astype(object)}
        mask = np.arange(days)[None, :] >= np.ceil(signup / DAY)[:, None]
        b.add(n, "class", mask, group=k, weight=vol, tz=tz, lang=lang, persona=3,
              home=campus[k % len(campus)] | (1 + k % 3), alt=home, signup=signup,
              ua=P.choose(rng, P.BROWSERS + P.APPS, n), param=rng.uniform(3, 40, n), topic=rng.integers(0, 30, n),
              pay=pay, program=program, email_domain=np.where(rng.random(n) < 0.8, uni, P.mails(rng, lang)), **meta)
        out.append({"writer": ClassWriter(k, rng, weeks), "deadlines": deadlines})
    return out


def batch(b: Builder, rng, net: Network, h: Honest, days: int, records: int) -> list[BatchWriter]:
    """Heavy batch accounts: one job template, clockwork timing, a cloud address, huge volume.

    Args:
        b: the account table being built; the accounts are appended to it.
        rng: the scenario's seeded generator.
        net: the scenario's address space.
        h: the sizes of the honest populations.
            ``h.batch`` accounts share ``h.batch_share`` of the records (Dirichlet-split).
        days: the scenario's length in days.
        records: the scenario's record count.

    Returns:
        One prompt writer per batch account, indexed by group; [] when ``h.batch`` ≤ 0.
    """
    if h.batch <= 0:
        return []
    share = rng.dirichlet(np.ones(h.batch)) * h.batch_share * records
    addr = with_host(net.cloud[rng.integers(0, len(net.cloud), h.batch)], rng)
    b.add(h.batch, "batch", np.ones((h.batch, days), bool), group=np.arange(h.batch), weight=share, home=addr,
          signup=-rng.uniform(60, 600, h.batch) * DAY, ua=P.choose(rng, BATCH_UAS, h.batch), param=rng.uniform(0, 20, h.batch),
          topic=np.zeros(h.batch, int), pay=P.cards(rng, h.batch), payment_type="card",
          payment_bin=P.choose(rng, P.BINS, h.batch), payment_country="US", email_domain="startup.io",
          program=np.where(rng.random(h.batch) < 0.4, "startup", "none").astype(object))
    return [BatchWriter(i) for i in range(h.batch)]


def labs(b: Builder, rng, net: Network, h: Honest, days: int, launch: float, records: int) -> list[dict]:
    """Benchmark labs: a few accounts each, evaluation runs of a fixed item bank, one on launch day.

    Args:
        b: the account table being built; the accounts are appended to it.
        rng: the scenario's seeded generator.
        net: the scenario's address space.
        h: the sizes of the honest populations.
            ``h.labs`` labs of 1 to ``h.lab_accounts`` accounts each.
        days: the scenario's length in days.
        launch: the new model's launch day (days from the window start, fractional).
        records: the scenario's record count; a lab's volume scales with it (runs are sampled).

    Returns:
        Per lab, ``{"writer": LabWriter, "runs": sorted float run start times, seconds from the window
        start}``: about one run per four days plus one within 8 h of the launch.
    """
    out = []
    for k in range(h.labs):
        n = int(rng.integers(1, h.lab_accounts + 1))
        writer = LabWriter(k, rng)
        runs = np.sort(np.concatenate([rng.uniform(0, days * DAY - 4 * 3600, max(1, days // 4)),
                                       [launch * DAY + rng.uniform(0, 8 * 3600)]]))
        vol = len(runs) * len(writer.items) * rng.uniform(0.5, 1.5, n) / n * records / 1e6  # runs are sampled
        block = v4_blocks(rng, 1, (128, 131, 137, 141, 171, 18))[0]
        lab_card = P.cards(rng, 1)[0]
        b.add(n, "research", np.ones((n, days), bool), group=k, weight=vol, home=block | (10 + np.arange(n)),
              signup=-rng.uniform(30, 700, n) * DAY, ua=P.choose(rng, ("lm-eval-harness/0.4.5", "inspect-ai/0.3.52",
                                                                       "python-requests/2.32.3"), n),
              topic=np.zeros(n, int), pay=lab_card, payment_type="card", payment_bin=str(P.choose(rng, P.BINS, 1)[0]),
              payment_country="US", email_domain=f"lab{k + 1}.ac.uk" if k % 2 else f"ai-lab{k + 1}.org",
              program=np.where(rng.random(n) < 0.6, "research", "none").astype(object))
        out.append({"writer": writer, "runs": runs})
    return out
