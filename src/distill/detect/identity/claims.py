"""Which identity does an answer claim? Alias matching with word boundaries and negation.

A mention counts as a claim unless it is negated ("I am not ChatGPT"): small models rarely
mention a model they do not claim to be when asked who they are, and a judge model would be
one more model with its own identity. The rules (word boundaries, case-sensitive names that are
also ordinary words, negation cues per language) live in ``data/aliases.yaml``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import yaml

NO_CLAIM = "no_claim"
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")
_CYRILLIC_END = re.compile(r"[а-яё]$", re.IGNORECASE)
# Clause ends: sentence punctuation, commas, colons, brackets, quotes, line breaks (any script).
_PUNCT_BREAK = r"[.!?;:,()\[\]\"“”«»\n。！？；：，（）]"
_LIST_PUNCT = r"[\s,，、/;&+]*"
# Letters of alphabetic scripts (Latin, Greek, Cyrillic). Chinese and Japanese characters are not
# word characters here: "我是ChatGPT助手" and "Ariaです" name ChatGPT and Aria.
_LETTER = r"A-Za-z\u00C0-\u024F\u0370-\u03FF\u0400-\u04FF"
_NOT_AFTER_WORD = rf"(?<![{_LETTER}0-9])"
_NOT_BEFORE_LETTER = rf"(?![{_LETTER}])"
_NOT_BEFORE_WORD = rf"(?![{_LETTER}0-9])"


@dataclass(frozen=True)
class Match:
    """One name found in a text: which identity, the text as written, where, and whether negated."""

    identity: str
    text: str
    start: int
    end: int
    negated: bool


def _alias_pattern(alias: str) -> str:
    body = re.escape(alias).replace(r"\ ", r"\s+")  # "Hugging Face" also across a line break
    if _CJK.search(alias):
        return body
    # Not inside a longer word on the left; on the right a version may follow (GPT-4o, Qwen2.5) but
    # not more letters (GPTQ, metadata). Cyrillic names may carry a case ending (Гуглом, Антропика).
    tail = r"[а-яё]{0,3}" if _CYRILLIC_END.search(alias) else ""
    return rf"{_NOT_AFTER_WORD}{body}{tail}{_NOT_BEFORE_LETTER}"


def _word_cues(words: list[str]) -> re.Pattern | None:
    if not words:
        return None
    parts = []
    for w in sorted(set(words), key=len, reverse=True):
        p = re.escape(w).replace(r"\ ", r"\s+")
        # "n't" / "n'" attach to the previous word, so no left boundary there.
        left = "" if w[0] in "n" and len(w) > 1 and w[1] in "'’" else _NOT_AFTER_WORD
        right = "" if w[-1] in "'’" else _NOT_BEFORE_WORD
        parts.append(left + p + right)
    return re.compile("|".join(parts), re.IGNORECASE)


def _substrings(words: list[str]) -> re.Pattern | None:
    return re.compile("|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))) if words else None


class AliasTable:
    """Names → identities, with the negation rules; built from YAML mappings (see ``data/aliases.yaml``).

    Args:
        data: the parsed YAML: ``identities`` maps an id to ``{label, lab, aliases, exact}`` (``aliases``
            match case-insensitively, ``exact`` case-sensitively, for names that are also ordinary words);
            ``negation`` (optional) holds the cue lists ``before``, ``before_cjk``, ``after_cjk``,
            ``breaks`` and ``joiners``.

    Raises:
        ValueError: ``identities`` is missing or empty, or an identity has neither ``aliases`` nor ``exact``.
    """

    def __init__(self, data: dict):
        ids = data.get("identities") or {}
        if not isinstance(ids, dict) or not ids:
            raise ValueError("alias table: 'identities' must be a non-empty mapping of id → {label, lab, aliases, exact}.")
        self.labels: dict[str, str] = {}
        self.labs: dict[str, str] = {}
        patterns = []
        for ident, entry in ids.items():
            if not isinstance(entry, dict) or not (entry.get("aliases") or entry.get("exact")):
                raise ValueError(f"alias table: identity {ident!r} needs 'aliases' or 'exact' (a list of names).")
            self.labels[ident] = str(entry.get("label", ident))
            self.labs[ident] = str(entry.get("lab", ident))
            for alias in entry.get("aliases") or []:
                patterns.append((ident, re.compile(_alias_pattern(str(alias)), re.IGNORECASE)))
            for alias in entry.get("exact") or []:
                patterns.append((ident, re.compile(_alias_pattern(str(alias)))))
        self._patterns = patterns
        neg = data.get("negation") or {}
        self._before = _word_cues(neg.get("before", []))
        self._before_cjk = _substrings(neg.get("before_cjk", []))
        self._after_cjk = _substrings(neg.get("after_cjk", []))
        breaks = [re.escape(b) for b in neg.get("breaks", [])]
        word_breaks = [b for b in breaks if not _CJK.search(b)]
        cjk_breaks = [b for b in breaks if _CJK.search(b)]
        self._breaks = re.compile(
            "|".join([_PUNCT_BREAK] + [_NOT_AFTER_WORD + b + _NOT_BEFORE_WORD for b in word_breaks] + cjk_breaks),
            re.IGNORECASE)
        joiners = [re.escape(j) for j in neg.get("joiners", [])]
        self._joiners = re.compile(rf"^{_LIST_PUNCT}(?:(?:{'|'.join(joiners) or '(?!)'}){_LIST_PUNCT})*$", re.IGNORECASE)

    @classmethod
    def load(cls, path: str | Path | None = None) -> AliasTable:
        """The packaged table, extended (ids replaced, negation lists appended) by a user's YAML file.

        Args:
            path: a YAML file with ``identities`` (added, or replacing packaged ids of the same name) and
                optionally ``negation`` (appended to the packaged cue lists); None or "": the packaged table alone.

        Returns:
            The alias table.

        Raises:
            FileNotFoundError: ``path`` does not exist.
            ValueError: the file is not a YAML mapping, or an identity in it is malformed.
        """
        data = yaml.safe_load(files("distill.detect.identity").joinpath("data/aliases.yaml").read_text("utf-8"))
        if path:
            path = Path(path)
            if not path.exists():
                raise FileNotFoundError(f"alias file {path} does not exist.")
            extra = yaml.safe_load(path.read_text("utf-8")) or {}
            if not isinstance(extra, dict):
                raise ValueError(f"alias file {path} must be a YAML mapping with 'identities' (and optionally 'negation').")
            data["identities"].update(extra.get("identities") or {})
            for key, words in (extra.get("negation") or {}).items():
                data["negation"].setdefault(key, []).extend(words)
        return cls(data)

    def find(self, text: str) -> list[Match]:
        """Every name in ``text`` (longest first where names overlap), in order, with its negation.

        Args:
            text: an answer, in any of the table's languages.

        Returns:
            The matches in order of position, none overlapping ("ChatGPT" wins over the "GPT" inside it);
            a name is negated when a cue precedes it in its clause ("I am not ChatGPT"), follows it (CJK),
            or it continues a negated list ("not ChatGPT, Claude or Gemini").
        """
        raw = sorted(((m.start(), -(m.end() - m.start()), ident, m) for ident, pat in self._patterns
                      for m in pat.finditer(text)), key=lambda t: t[:3])  # never compare Match objects
        kept: list[tuple[str, re.Match]] = []
        end = -1
        for start, _, ident, m in raw:
            if start >= end:  # "ChatGPT" wins over the "GPT" inside it; "Meta AI" over "Meta"
                kept.append((ident, m))
                end = m.end()
        out: list[Match] = []
        for ident, m in kept:
            prev = out[-1] if out else None
            negated = self._negated_before(text, m.start(), prev.end if prev else 0) or self._negated_after(text, m.end())
            if not negated and prev and prev.negated and self._joiners.match(text[prev.end:m.start()]):
                negated = True  # "not ChatGPT, Claude or Gemini": the list shares the negation
            out.append(Match(ident, m.group(0), m.start(), m.end(), negated))
        return out

    def _negated_before(self, text: str, start: int, floor: int) -> bool:
        # The clause before the name: from the last break (or the previous name) up to the name.
        lo = max(floor, start - 80)
        prefix = text[lo:start]
        breaks = list(self._breaks.finditer(prefix))
        if breaks:
            prefix = prefix[breaks[-1].end():]
        words = prefix.split()
        near = " ".join(words[-6:])  # a cue more than ~6 words back belongs to something else
        if self._before and self._before.search(near):
            return True
        return bool(self._before_cjk and self._before_cjk.search(prefix[-12:]))

    def _negated_after(self, text: str, end: int) -> bool:
        return bool(self._after_cjk and self._after_cjk.match(text[end:end + 12].lstrip("的公司 ")))

    def claims(self, text: str) -> list[str]:
        """The identities ``text`` claims (negated names left out), in order of first mention; [] for none.

        Args:
            text: an answer.

        Returns:
            Identity ids (keys of ``labels``), each once.
        """
        seen: list[str] = []
        for m in self.find(text):
            if not m.negated and m.identity not in seen:
                seen.append(m.identity)
        return seen

    def identity_of(self, spec: str) -> str | None:
        """Best guess at a teacher's own identity from its name or path ('smollm2' → 'smollm').

        Args:
            spec: a model spec: an embedded name, a folder path (its last part is read) or a model id;
                "_" and "-" count as spaces.

        Returns:
            The identity id of the first name found in it, or None when it names none.
        """
        name = Path(spec).name.replace("_", " ").replace("-", " ")
        found = [m.identity for m in self.find(name)]
        return found[0] if found else None
