"""Teacher replies → validated items. A reply that yields nothing usable raises ``Malformed``.

Capable teachers answer the JSON template; small local ones drift (code fences, prose around the
JSON, trailing commas, or "Question: … Answer: …" lines). Both are accepted; anything else is
malformed, which the generator retries with another seed and finally counts.
"""

from __future__ import annotations

import json
import re

FIELDS = ("question", "reasoning", "answer")


class Malformed(ValueError):
    """A reply with no valid item; the message says what was wrong (it goes into the report)."""


def _json_candidates(text: str):
    text = re.sub(r"^```(?:json)?\s*|\s*```\s*$", "", text.strip(), flags=re.M)
    starts = [i for i, ch in enumerate(text) if ch in "[{"][:5]
    for s in starts:
        depth, in_str, esc = 0, False, False
        for j in range(s, len(text)):
            ch = text[j]
            if in_str:
                esc = ch == "\\" and not esc
                if ch == '"' and not esc:
                    in_str = False
                continue
            if ch == '"':
                in_str = True
            elif ch in "[{":
                depth += 1
            elif ch in "]}":
                depth -= 1
                if depth == 0:
                    yield text[s : j + 1]
                    break


def _load(candidate: str):
    try:
        return json.loads(candidate)
    except json.JSONDecodeError:
        return json.loads(re.sub(r",\s*([}\]])", r"\1", candidate))  # trailing commas


def _clean(d: dict) -> dict | None:
    if not isinstance(d, dict):
        return None
    low = {str(k).lower().strip(): v for k, v in d.items()}
    q, a = low.get("question") or low.get("q"), low.get("answer") or low.get("a")
    if not isinstance(q, str) or not isinstance(a, str) or not q.strip() or not a.strip():
        return None
    r = low.get("reasoning") or low.get("rationale") or ""
    if isinstance(r, list):
        r = " ".join(map(str, r))
    return {"question": q.strip(), "reasoning": str(r).strip(), "answer": a.strip()}


_LABELS = re.compile(r"^\s*(?:\*\*)?(question|q|reasoning|answer|a)(?:\*\*)?\s*[:：]\s*(?:\*\*)?\s*", re.I | re.M)


def _labelled(text: str) -> list[dict]:
    """'Question: … Reasoning: … Answer: …' blocks (the label of the first question may be missing,
    as when the prompt itself ends with 'Question:')."""
    parts = _LABELS.split(text)
    head, rest = parts[0], parts[1:]
    fields: list[tuple[str, str]] = []
    if head.strip() and rest:
        fields.append(("question", head.strip()))
    for label, value in zip(rest[::2], rest[1::2], strict=True):
        key = {"q": "question", "a": "answer"}.get(label.lower(), label.lower())
        fields.append((key, value.strip()))
    items, cur = [], {}
    for key, value in fields:
        if key == "question" and cur:
            items.append(cur)
            cur = {}
        cur[key] = value
    if cur:
        items.append(cur)
    return [c for c in (_clean(i) for i in items) if c]


def parse_items(text: str) -> list[dict]:
    """Items from one generation reply: ``[{"question", "reasoning", "answer"}, ...]``.

    Args:
        text: the teacher's reply (JSON, or "Question: … Answer: …" blocks).

    Returns:
        The items.

    Raises:
        Malformed: the reply is empty or holds no valid question/answer.
    """
    if not text or not text.strip():
        raise Malformed("empty reply")
    for cand in _json_candidates(text):
        try:
            data = _load(cand)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict):
            data = data.get("items") or data.get("pairs") or data.get("questions") or [data]
        if isinstance(data, list):
            items = [c for c in (_clean(d) for d in data) if c]
            if items:
                return items
    items = _labelled(text)
    if items:
        return items
    if "{" in text:
        raise Malformed("JSON without valid question/answer items (truncated or wrong fields)")
    raise Malformed("no question/answer found in the reply")


def parse_questions(text: str, limit: int) -> list[str]:
    """One question per line (numbering and bullets stripped) — the unanswerable-question template.

    Args:
        text: the teacher's reply.
        limit: the most questions returned.

    Returns:
        The questions.

    Raises:
        Malformed: no line ends in '?'.
    """
    out = []
    for line in text.splitlines():
        line = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", line).strip().strip('"')
        if len(line) >= 8 and line.endswith("?"):
            out.append(line)
    if not out:
        raise Malformed("no line ending in '?'")
    return out[:limit]


def parse_judge(text: str) -> tuple[int, str]:
    """(score 0–2, reason) from a judge reply; JSON preferred, a leading digit accepted.

    Args:
        text: the judge's reply.

    Returns:
        (score, reason).

    Raises:
        Malformed: no score 0, 1 or 2 found.
    """
    for cand in _json_candidates(text or ""):
        try:
            d = _load(cand)
        except json.JSONDecodeError:
            continue
        if isinstance(d, dict) and str(d.get("score", "")).strip() in ("0", "1", "2"):
            return int(str(d["score"]).strip()), str(d.get("reason", ""))
    m = re.search(r"\b([012])\b", text or "")
    if m:
        return int(m.group(1)), (text or "").strip()[:200]
    raise Malformed("no score 0, 1 or 2 in the judge's reply")
