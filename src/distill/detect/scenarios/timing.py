"""When each request is sent: human days and hours, operator bursts and scripts, deadlines,
batch windows, evaluation runs; and which model it goes to (launch-day retargeting)."""

from __future__ import annotations

import numpy as np

from distill.detect.scenarios.accounts import KIND

DAY = 86_400
# requests by local hour: people (evenings included) and office staff
HUMAN = np.array([.8, .4, .25, .15, .12, .2, .5, 1.1, 2, 2.8, 3.2, 3.3, 3, 3.2, 3.4, 3.3, 3.1, 2.9, 2.8, 3, 3.1,
                  2.8, 2.1, 1.4])
OFFICE = np.array([.05, .03, .02, .02, .02, .05, .2, .8, 3, 4.5, 4.8, 4.5, 3, 4.2, 4.6, 4.4, 3.8, 2.5, 1, .5, .3,
                   .2, .1, .07])
MODELS = ("atlas-1", "atlas-1-mini")
NEW_MODEL = "atlas-2"


class Clock:
    """Per-account lookups for drawing request times.

    Args:
        world: the scenario's :class:`~distill.detect.scenarios.population.World` (accounts and their
            activity masks, operators, classes, labs).
    """

    def __init__(self, world):
        acc = world.acc
        self.world = world
        self.n_active = acc.active.sum(1)
        self.day_order = np.argsort(~acc.active, axis=1, kind="stable").astype(np.int16)  # active days first
        self.human_cdf = np.cumsum(HUMAN / HUMAN.sum())
        self.office_cdf = np.cumsum(OFFICE / OFFICE.sum())

    def day(self, acct: np.ndarray, u: np.ndarray) -> np.ndarray:
        """One of each account's active days, picked by a uniform number.

        Args:
            acct: (n,) account row indices.
            u: (n,) uniform numbers in [0, 1); ``u`` picks among the account's active days in day order.

        Returns:
            (n,) int64 day numbers (0-based from the window start), each an active day of its account.
        """
        k = np.minimum((u * self.n_active[acct]).astype(int), self.n_active[acct] - 1)
        return self.day_order[acct, k].astype(np.int64)

    def times(self, acct: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """When each request is sent, by its account's kind.

        People follow the ``HUMAN`` (office NAT users: ``OFFICE``) hourly profile in their time zone;
        operators fire in bursts or run around the clock; students rush before deadlines; batch jobs run
        in a nightly window on a fixed cadence; labs send during their evaluation runs.

        Args:
            acct: (n,) account row indices, one per request.
            rng: the chunk's seeded generator.

        Returns:
            (n,) float seconds from the window start, in [0, days × 86400 − 1], never before the
            account's signup.
        """
        w, acc = self.world, self.world.acc
        n = len(acct)
        kind = acc.kind[acct]
        tz = acc.tz[acct].astype(float)
        day = self.day(acct, rng.random(n))
        hour = np.searchsorted(self.human_cdf, rng.random(n)) + rng.random(n)
        office = kind == KIND["nat"]
        hour[office] = np.searchsorted(self.office_cdf, rng.random(int(office.sum()))) + rng.random(int(office.sum()))
        t = day * DAY + (hour - tz) * 3600
        for i, run in enumerate(w.ops):  # operators: bursts fired together, or a script running around the clock
            m = np.flatnonzero((kind == KIND["campaign"]) & (acc.group[acct] == i))
            if not len(m) or run.op.shape == "low_and_slow":
                continue
            t[m] = day[m] * DAY + rng.uniform(0, DAY, len(m))
            if run.op.shape == "bursty":
                b = m[rng.random(len(m)) < 0.85]
                j = rng.integers(0, run.bursts.shape[1], len(b))
                start, length = run.bursts[day[b], j, 0], run.bursts[day[b], j, 1]
                t[b] = day[b] * DAY + start + rng.random(len(b)) * length
        cls = np.flatnonzero(kind == KIND["class"])
        if len(cls):
            rush = cls[rng.random(len(cls)) < 0.8]  # most homework is done in the hours before the deadline
            for k, c in enumerate(w.classes):
                m = rush[acc.group[acct[rush]] == k]
                dl = c["deadlines"]
                dl = dl[(dl > 0) & (dl <= w.sc.days * DAY)] if ((dl > 0) & (dl <= w.sc.days * DAY)).any() else dl
                wk = rng.integers(0, len(dl), len(m))
                t[m] = dl[wk] - np.minimum(rng.exponential(acc.param[acct[m]] * 3600), 6.5 * DAY)
        bt = np.flatnonzero(kind == KIND["batch"])
        if len(bt):  # a nightly window on a fixed cadence
            cadence = 2.0 + acc.group[acct[bt]]
            raw = day[bt] * DAY + acc.param[acct[bt]] * 3600 + rng.random(len(bt)) * 5 * 3600
            t[bt] = np.floor(raw / cadence) * cadence
        rs = np.flatnonzero(kind == KIND["research"])
        for k, lab in enumerate(w.labs):
            m = rs[acc.group[acct[rs]] == k]
            runs = lab["runs"]
            t[m] = runs[rng.integers(0, len(runs), len(m))] + rng.random(len(m)) * 3 * 3600
        t = np.mod(t, w.sc.days * DAY)  # a local evening before the window opens wraps to its end: no pile-up
        early = t < acc.signup[acct]  # a deadline rush or evaluation run cannot predate the account
        t[early] = acc.signup[acct[early]] + rng.uniform(60, 3600, int(early.sum()))
        return np.minimum(t, w.sc.days * DAY - 1)

    def models(self, acct: np.ndarray, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Which model each request goes to.

        Before launch day everyone uses ``MODELS`` (75% the first; batch jobs the mini one); afterwards a
        share moves to ``NEW_MODEL``: labs heavily for two days (70%, then 30%), retargeting operators
        within about six hours (``retarget_share`` of their traffic), batch jobs never, everyone else
        (other operators included) gradually, up to 35% after five days.

        Args:
            acct: (n,) account row indices, one per request.
            t: (n,) request times, seconds from the window start.
            rng: the chunk's seeded generator.

        Returns:
            (n,) object array of model names.
        """
        w, acc = self.world, self.world.acc
        kind = acc.kind[acct]
        model = np.where(rng.random(len(acct)) < 0.75, MODELS[0], MODELS[1]).astype(object)
        model[kind == KIND["batch"]] = MODELS[1]
        after = (t - w.sc.launch_day * DAY) / DAY
        p = 0.35 * np.clip(after / 5, 0, 1)
        lab = kind == KIND["research"]
        p[lab] = np.where(after[lab] < 0, 0, np.where(after[lab] < 2, 0.7, 0.3))
        p[kind == KIND["batch"]] = 0
        for i, run in enumerate(w.ops):
            m = (kind == KIND["campaign"]) & (acc.group[acct] == i)
            if run.op.retarget:
                p[m] = run.op.retarget_share * np.clip(after[m] * 4, 0, 1)  # moved within about six hours
        model[(rng.random(len(acct)) < p) & (after >= 0)] = NEW_MODEL
        return model
