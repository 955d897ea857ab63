"""held-out: do not read while developing the detector.

Held-out ranges of the scenario knobs (``--ranges heldout``): shifted and wider than the
development ranges, with another language mix. They exist so that a detector can be scored on
worlds it was not tuned on; reading them while developing the detector defeats that.
"""

from __future__ import annotations

from distill.detect.scenarios.dist import Choice, I, LogU, P, U

LANGUAGES = ("en", "es", "it", "ko", "tr", "nl", "pl", "ar", "hi", "vi", "id", "zh")

RANGES: dict = {
    "days": I(10, 35),
    "launch_day": U(0.3, 0.85),
    "operators": I(2, 8),
    "kind": Choice(("reasoning", "sweep", "agentic", "coding", "probe"), (0.15, 0.2, 0.25, 0.2, 0.2)),
    "accounts": LogU(12, 1200),
    "proxy": Choice(("datacenter", "residential", "mobile", "relay"), (0.15, 0.45, 0.2, 0.2)),
    "shared_provider": P(0.55),
    "pool_overlap": U(0.2, 1.0),
    "ip_fresh": U(0.6, 1.0),
    "card_mode": Choice(("shared", "own"), (0.35, 0.65)),
    "accounts_per_card": I(2, 60),
    "filler": U(0.2, 0.9),
    "paraphrase": P(0.6),
    "languages": I(2, 8),
    "language_pool": LANGUAGES,
    "english_share": U(0.1, 0.6),
    "templates": I(2, 14),
    "shared_system": U(0.1, 0.9),
    "own_system": U(0.0, 0.3),
    "shape": Choice(("bursty", "steady", "low_and_slow"), (0.25, 0.35, 0.4)),
    "rate_bursty": LogU(8, 250),
    "rate_steady": LogU(3, 60),
    "rate_low_and_slow": U(1.5, 3.5),
    "active_share": U(0.3, 1.0),
    "lifetime_low": U(1.0, 12.0),
    "lifetime_span": U(1.0, 25.0),
    "waves": I(1, 7),
    "program": Choice(("none", "startup", "education", "research"), (0.35, 0.3, 0.25, 0.1)),
    "retarget": P(0.55),
    "retarget_share": U(0.2, 1.0),
    "browser_ua": U(0.2, 1.0),
    "tz": I(-10, 12),
    "benign_volume": LogU(15, 120),
    "benign_datacenter": U(0.02, 0.12),
    "benign_agent_devs": U(0.04, 0.15),
    "classes": I(0, 4),
    "class_size": I(80, 1100),
    "class_rate": U(2.0, 16.0),
    "class_signup_weeks_before": U(-1.0, 6.0),
    "roommates": U(0.05, 0.6),
    "cgnats": I(1, 6),
    "cgnat_users": I(100, 3000),
    "companies": I(0, 8),
    "company_size": I(20, 900),
    "batch": I(0, 8),
    "batch_share": U(0.01, 0.18),
    "labs": I(0, 8),
    "lab_accounts": I(1, 6),
    "relay_users": I(20, 1500),
}
