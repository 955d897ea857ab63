"""A scripted labelling teacher: it answers from the gold labels it is given, breaking the schema on cue."""

from __future__ import annotations

import json
import re

from distill.teachers import Completion


class ScriptedLabeller:
    """Answers classification prompts with ``labels[text]`` and NER prompts with ``entities[text]``.

    Args:
        answers: text → the label (str) or the entity mentions (list of {"text", "type"}).
        bad_first: texts whose first reply breaks the schema (an unknown label / a missing key).
        always_bad: texts whose every reply breaks the schema.
    """

    name = "scripted"

    def __init__(self, answers: dict, bad_first=(), always_bad=()):
        self.answers, self.bad_first, self.always_bad = answers, set(bad_first), set(always_bad)
        self.calls = 0
        self.seen: dict[str, int] = {}

    async def chat(self, messages, *, max_tokens=512, temperature=0.0, seed=None, top_logprobs=None):
        self.calls += 1
        prompt = messages[-1]["content"]
        m = re.search(r'Text: """(.*)"""', prompt, re.S) or re.search(r'Headline: "(.*)"\n\nReply', prompt, re.S)
        text = m.group(1)
        self.seen[text] = self.seen.get(text, 0) + 1
        bad = text in self.always_bad or (text in self.bad_first and self.seen[text] == 1)
        ans = self.answers[text]
        if isinstance(ans, str):
            reply = {"label": "no-such-label" if bad else ans}
        else:
            reply = {"entities": [{"text": e["text"]} for e in ans]} if bad else {"entities": ans}
        return Completion("Sure! " + json.dumps(reply), 40, 8, model=self.name)
