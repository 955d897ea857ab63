"""A scripted in-process teacher for the docs pipeline tests: it writes questions whose answers are
sentences of the excerpt it was shown, so the filters have real, checkable work to do."""

from __future__ import annotations

import json
import re

from distill.teachers import Completion


class ScriptedTeacher:
    name = "scripted"

    def __init__(self, malformed_every: int = 0, invent: bool = False):
        self.calls = 0
        self.malformed_every = malformed_every
        self.invent = invent  # add one answer with a detail the excerpt does not state

    async def chat(self, messages, *, max_tokens=512, temperature=0.0, seed=None, top_logprobs=None):
        self.calls += 1
        prompt = messages[-1]["content"]
        if self.malformed_every and self.calls % self.malformed_every == 0:
            return Completion('{"items": [{"question": "truncated', 50, 5, model=self.name)
        if "Proposed answer:" in prompt:  # the grounding judge: yes when the answer is a sentence of the excerpt
            excerpt = prompt.split('"""')[1]
            answer = prompt.split("Proposed answer:")[1].split("\n")[0].strip()
            return Completion("yes" if answer in excerpt else "no", 200, 1, model=self.name)
        if "does NOT answer" in prompt:
            topic = re.search(r"\((.*?)\)", prompt).group(1)
            text = f"Does {topic} support single sign-on through SAML providers?\nWhat is the monthly price of {topic}?"
            return Completion(text, 50, 20, model=self.name)
        if "Question: {question}" in prompt or "Candidate answer:" in prompt:
            cand = prompt.split("Candidate answer:")[1].split("\n")[0]
            ref = prompt.split("Reference answer (from the documentation):")[1].split("\n")[0]
            score = 2 if set(ref.lower().split()) & set(cand.lower().split()) else 0
            return Completion(json.dumps({"score": score, "reason": "overlap"}), 80, 10, model=self.name)
        excerpt = prompt.split('"""')[1] if '"""' in prompt else prompt.split(":\n", 1)[1].split("\n\nWrite")[0]
        sents = [s.strip() for s in re.split(r"(?<=[.!?])\s+", excerpt.strip()) if len(s.strip()) > 20]
        n = int(re.search(r"write (\d+) questions", prompt).group(1)) if "write " in prompt and "questions" in prompt else 1
        items = [{"question": f"What does the documentation say about '{' '.join(s.split()[:4])}' (seed {seed})?",
                  "reasoning": "", "answer": s} for s in sents[:n]]
        if self.invent and items:
            items[-1]["answer"] = "It requires a paid enterprise licence and a restart of the coordinator daemon."
        if "Reply with JSON" in prompt:
            return Completion(json.dumps({"items": items}), 100, 40 * len(items), model=self.name)
        it = items[0] if items else {"question": "What is this?", "answer": excerpt[:50]}
        return Completion(f"{it['question']}\nAnswer: {it['answer']}", 100, 40, model=self.name)
