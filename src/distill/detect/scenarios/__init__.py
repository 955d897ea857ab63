"""Scenario generator of API request logs for evaluating a distillation-campaign detector.

A scenario is a set of knobs (operators, proxies, payment, filler, paraphrase, timing, lifetimes,
honest populations) drawn from a range set (``ranges`` for development, ``heldout`` for
evaluation) under a preset; the generator turns it into request logs and the truth.

    distill detect simulate --records 1000000 --preset default --seed 1 --out runs/sim
"""

from distill.detect.scenarios.run import ScenarioConfig, run
from distill.detect.scenarios.sample import sample

__all__ = ["ScenarioConfig", "run", "sample"]
