"""Development ranges of the scenario knobs: what ``--ranges dev`` (the default) draws from.

Sizes (``accounts``, ``class_size``, ``cgnat_users``, ``company_size``, ``relay_users``) are per
million records and scale with ``--records``; rates are requests per active day per account.
"""

from __future__ import annotations

from distill.detect.scenarios.dist import Choice, I, LogU, P, U

LANGUAGES = ("en", "fr", "de", "es", "pt", "zh", "ja", "ru")

RANGES: dict = {
    # the window
    "days": I(14, 28),
    "launch_day": U(0.45, 0.75),  # share of the window before the new model launches
    # operators
    "operators": I(1, 6),
    "kind": Choice(("reasoning", "sweep", "agentic", "coding", "probe")),
    "accounts": LogU(30, 400),
    "proxy": Choice(("datacenter", "residential", "mobile", "relay"), (0.35, 0.35, 0.15, 0.15)),
    "shared_provider": P(0.35),  # draws its pool from an earlier operator's provider
    "pool_overlap": U(0.0, 0.6),
    "ip_fresh": U(0.3, 1.0),
    "card_mode": Choice(("shared", "own"), (0.6, 0.4)),
    "accounts_per_card": I(2, 25),
    "filler": U(0.0, 0.6),
    "paraphrase": P(0.4),
    "languages": I(1, 4),  # how many languages a paraphrasing operator writes in
    "language_pool": LANGUAGES,
    "english_share": U(0.3, 0.8),  # English's share of an operator's languages when paraphrasing
    "templates": I(3, 8),
    "shared_system": U(0.0, 0.5),
    "own_system": U(0.0, 0.6),
    "shape": Choice(("bursty", "steady", "low_and_slow"), (0.45, 0.35, 0.2)),
    "rate_bursty": LogU(10, 80),
    "rate_steady": LogU(4, 30),
    "rate_low_and_slow": U(2.0, 3.0),
    "active_share": U(0.5, 1.0),
    "lifetime_low": U(2.0, 8.0),
    "lifetime_span": U(2.0, 14.0),
    "waves": I(1, 4),
    "program": Choice(("none", "startup", "education", "research"), (0.55, 0.25, 0.15, 0.05)),
    "retarget": P(0.4),
    "retarget_share": U(0.4, 0.9),
    "browser_ua": U(0.0, 0.7),
    "tz": I(-5, 9),
    # honest populations
    "benign_volume": LogU(25, 80),
    "benign_datacenter": U(0.01, 0.05),
    "benign_agent_devs": U(0.02, 0.08),
    "classes": I(0, 2),
    "class_size": I(150, 700),
    "class_rate": U(3.0, 10.0),
    "class_signup_weeks_before": U(3.0, 8.0),
    "roommates": U(0.1, 0.4),
    "cgnats": I(1, 4),
    "cgnat_users": I(200, 1500),
    "companies": I(1, 5),
    "company_size": I(50, 400),
    "batch": I(1, 5),
    "batch_share": U(0.03, 0.1),
    "labs": I(1, 5),
    "lab_accounts": I(1, 4),
    "relay_users": I(50, 600),
}
