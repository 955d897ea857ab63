"""Presets: named worlds, each a set of knob values laid over the chosen range set.

A value is a spec (:mod:`.dist`), a ``(lo, hi)`` range, or a fixed value. ``--set KEY=VAL`` is
laid over the preset in turn, so any knob of any preset can still be changed.
"""

from __future__ import annotations

from distill.detect.scenarios.dist import Choice, P

CAREFUL = {"proxy": "residential", "ip_fresh": 1.0, "pool_overlap": 1.0, "card_mode": "own",
           "browser_ua": (0.85, 1.0), "shared_provider": P(0.7)}
LOW_AND_SLOW = {"shape": "low_and_slow", "active_share": (0.5, 0.9)}
FILLER = {"filler": (0.8, 0.9)}
PARAPHRASE = {"paraphrase": True, "languages": 8, "english_share": (0.15, 0.35), "shared_system": 0.0,
              "own_system": 0.0}

PRESETS: dict[str, dict] = {
    # five operators with different goals; proxy networks shared between operators and with ordinary users
    "default": {"operators": 5, "kinds": ("reasoning", "sweep", "agentic", "coding", "probe"),
                "shared_provider": P(0.6), "pool_overlap": (0.2, 0.6), "filler": (0.1, 0.4),
                "shared_system": (0.2, 0.5), "paraphrase": P(0.3), "waves": (2, 4),
                "shape": Choice(("bursty", "steady", "low_and_slow"), (0.5, 0.35, 0.15)), "classes": (1, 2)},
    "careful": CAREFUL,
    "low_and_slow": LOW_AND_SLOW,
    "filler": FILLER,
    "paraphrase": PARAPHRASE,
    "all_four": CAREFUL | LOW_AND_SLOW | FILLER | PARAPHRASE,
    "no_campaign": {"operators": 0, "classes": (1, 3), "class_size": (400, 800), "cgnats": (2, 4),
                    "companies": (2, 5), "batch": (2, 5), "labs": (2, 5), "relay_users": (200, 800)},
    "random": {},
}
