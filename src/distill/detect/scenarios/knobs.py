"""The knobs of one scenario: what was drawn, per operator and for the honest populations.

A :class:`Scenario` is the full description of one simulated world. It is drawn from a set of
ranges (:mod:`.ranges` for development, :mod:`.heldout` for evaluation) by :func:`.sample.sample`,
written to ``scenario.json``, and is all the record generator reads.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

OPERATOR_KINDS = ("reasoning", "sweep", "agentic", "coding", "probe")
PROXY_TYPES = ("datacenter", "residential", "mobile", "relay")
SHAPES = ("bursty", "steady", "low_and_slow")
CARD_MODES = ("shared", "own")
ACCOUNT_KINDS = ("benign", "campaign", "nat", "cgnat", "class", "batch", "research", "privacy_relay")


@dataclass
class Operator:
    """One distillation operator and how it runs its accounts."""

    name: str
    kind: str  # one of OPERATOR_KINDS: what it extracts
    accounts: int  # accounts at this scenario's record count
    proxy: str  # one of PROXY_TYPES
    provider: int  # proxy provider id: operators with the same id draw from the same pool
    pool_overlap: float  # share of the pool's addresses in blocks ordinary users also use
    ip_fresh: float  # share of requests on a fresh address (the rest on a sticky per-account one)
    card_mode: str  # "shared" (accounts_per_card accounts share a card) or "own"
    accounts_per_card: int
    filler: float  # share of the account's requests that are ordinary-looking
    paraphrase: bool  # per-request paraphrase (True) or a few shared templates (False)
    languages: tuple[str, ...]  # languages of the extraction prompts
    english_share: float  # share of its extraction prompts in English when "en" is among them
    templates: int  # templates per operator when not paraphrasing
    shared_system: float  # share of requests with a generic system prompt (also used by ordinary users)
    own_system: float  # share of requests with the operator's own system prompt
    shape: str  # one of SHAPES
    rate: float  # requests per active day per account
    active_share: float  # share of its lifetime days on which an account is active
    lifetime: tuple[float, float]  # account lifetime in days (low, high)
    waves: int  # account creation waves
    program: str  # credit programme its accounts sign up through (none / startup / education / research)
    retarget: bool  # moves to the new model on launch day
    retarget_share: float  # share of its traffic on the new model once moved
    browser_ua: float  # share of requests with an ordinary browser user agent
    tz: int  # operator's working time zone (hours from UTC)


@dataclass
class Honest:
    """Sizes of the honest populations (at this scenario's record count)."""

    benign_volume: float  # mean requests per ordinary user over the window
    benign_datacenter: float  # share of ordinary users on cloud/VPN (datacenter) addresses
    benign_agent_devs: float  # share of ordinary users building agents (tool-use prompts, SDK)
    classes: int
    class_size: tuple[int, ...]  # students per class
    class_rate: float  # requests per active day per student
    class_signup_weeks_before: float  # semester start, weeks before the window starts (≤ 0: inside it)
    roommates: float  # share of students sharing a card with a roommate
    cgnats: int  # mobile carriers with carrier-grade NAT
    cgnat_users: int  # users per carrier
    companies: int
    company_size: tuple[int, ...]
    batch: int  # heavy batch accounts
    batch_share: float  # share of all records sent by batch accounts
    labs: int  # research / benchmark labs
    lab_accounts: int  # accounts per lab (up to)
    relay_users: int  # privacy-relay users


@dataclass
class Scenario:
    """One world: the window, the operators and the honest populations."""

    preset: str
    ranges: str
    seed: int
    records: int
    days: int
    launch_day: float  # the new model launches this many days into the window
    operators: list[Operator] = field(default_factory=list)
    honest: Honest | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


OPERATOR_FIELDS = {f.name for f in dataclasses.fields(Operator)} - {"name"}
HONEST_FIELDS = {f.name for f in dataclasses.fields(Honest)}
SCENARIO_FIELDS = {"days", "launch_day"}
