"""Prompts of honest users: everyday requests, developers, students, employees, batch jobs, labs.

Like :mod:`.extraction_text`, writers read a row of random integers ``r`` per record. Some honest
prompts are written to look like extraction on purpose: homework asking for every step, agent
developers sending tool schemas, labs repeating benchmark items with "let's think step by step",
batch jobs sending one template at high volume.
"""

from __future__ import annotations

import numpy as np

from distill.detect.scenarios import vocab as V
from distill.detect.scenarios.languages import LANGS

EVERYDAY = (
    "can you explain {t} in simple terms?", "what's {t} and why does it matter", "write a short email to my manager "
    "asking for {d} days off next month", "give me a dinner recipe with chicken, rice and whatever's left for {d} people",
    "how do I get red wine out of a carpet", "what should I name my new {pet}", "help me write a birthday message for "
    "my {rel}", "is it ok to eat yogurt a week after the date on the lid?", "plan a {d}-day trip to {city} on a budget",
    "how does {t} show up in everyday life?", "recommend {d} books about {t}", "why is my sourdough so dense",
    "rewrite this to sound more professional: we cant deliver by friday sorry", "compare the {p} models under 200 "
    "dollars", "what's the difference between affect and effect", "give me ideas for a team lunch in {city}",
    "tell me a joke about {job}s", "how do I ask for a raise without sounding entitled", "write a haiku about {t}",
    "explain {t} like I'm five", "what are the pros and cons of {t}?", "draft a cover letter for a junior {job} job",
    "how many calories are in a bagel with cream cheese", "my {rel} keeps sending chain messages, how do I say stop "
    "nicely", "what to pack for a hike in {city} in autumn", "summarize this: the meeting moved to thursday and the "
    "budget review is postponed until the auditors reply", "is {p} worth it or is it hype", "how do I back up my "
    "phone photos", "write a limerick about a {pet} named {name}", "should I learn {pl} or {pl2} first",
    "quick question - what time is it in {city} right now?", "help me understand my electricity bill, it doubled",
    "what does it mean when my car makes a clicking noise when turning", "make a weekly workout plan, I have {d} "
    "free evenings", "fix the grammar: me and him goes to the store yesterday",
)
CODE_HELP = (
    "why do I get TypeError: 'NoneType' object is not subscriptable here:\nrow = cur.fetchone()\nprint(row[0])",
    "how do I center a div vertically in css", "{pl}: how do I read a file line by line",
    "my docker container exits immediately with code 0, what am I missing", "git says detached HEAD, how do I get "
    "my commits back", "write a SQL query for the top {d} customers by revenue last quarter",
    "convert this list comprehension to a for loop: [x*x for x in xs if x % 2]", "what's the difference between "
    "a process and a thread", "regex to match a UK postcode", "how do I implement {task} in {pl}? it's for a side "
    "project", "my react state doesn't update after setState, why", "explain this error: segmentation fault (core "
    "dumped) in my C homework", "is {task} overkill for a {d}-user app?",
)
AGENT_DEV = (
    "You have these tools:\n- get_weather(city: string)\n- send_email(to, subject, body)\nUser: email my team if it "
    "rains in {city} tomorrow", "I'm building a support bot with function calling. Here's the schema: "
    '{{"name": "crm_lookup", "parameters": {{"customer_id": "string"}}}}. Customer {n} asks where their order is.',
    "tools=[search_web, open_url]. find the opening hours of the {city} city library",
    "Thought: I need the user's calendar.\nAction: calendar_create({{\"title\": \"dentist\", \"minutes\": 30}})\n"
    "Observation: ok\nWhat should the assistant say now?",
)
HOMEWORK = (
    "solve for x and show the steps: {a}x + {b} = {c}x - {d}", "explain step by step how to balance "
    "Fe + O2 -> Fe2O3", "can you walk me through finding the derivative of x^{d} * sin(x)?", "step by step: "
    "what is the probability of two sixes when rolling {d} dice", "how do I find the area of a triangle with sides "
    "{a}, {b} and {c}? show working", "explain how to do long division of {n} by {b}, every step please",
    "I don't get {t}. can you explain it step by step with an example?",
)
WORK = (
    "review this pull request description and suggest improvements: 'refactor auth, misc fixes'",
    "write unit tests for a function that parses ISO dates", "turn these notes into action items: vendor late, "
    "budget ok, hire freeze until Q{d}", "draft a status update for {co}'s leadership on the {t} project",
    "summarize the attached customer feedback in five bullets", "write a polite reminder to {co} about invoice "
    "#{n}", "what does this regex do: ^[a-z0-9_-]{{3,16}}$", "convert this bash script to python: for f in *.csv; "
    "do wc -l $f; done", "make this slide title shorter: quarterly performance of the EMEA region",
    "why does my kubernetes pod keep restarting with OOMKilled", "outline a training session on {t} for new "
    "hires", "translate this paragraph for our {city} office: the office will close early on Friday",
    "write a job description for a senior {job}", "check this SQL for mistakes: SELECT name, COUNT(*) FROM orders",
)
PETS = ("cat", "dog", "parrot", "hamster", "goldfish")
RELS = ("sister", "brother", "grandma", "best friend", "coworker", "dad")
JOBS = ("data analyst", "nurse", "plumber", "teacher", "developer", "accountant")
NAMES = ("Milo", "Luna", "Pip", "Rosa", "Biscuit", "Kenji")


def _values(r: list[int], topic: str) -> dict:
    return {"t": topic, "d": 2 + r[2] % 7, "a": 2 + r[3] % 12, "b": 1 + r[4] % 20, "c": 3 + r[5] % 15,
            "n": 100 + r[6] % 9000, "pet": PETS[r[2] % 5], "rel": RELS[r[3] % 6], "job": JOBS[r[4] % 6],
            "name": NAMES[r[5] % 6], "p": V.PRODUCTS[r[6] % len(V.PRODUCTS)], "pl": V.PROG_LANGS[r[2] % 6],
            "pl2": V.PROG_LANGS[(r[3] >> 3) % 6], "co": V.COMPANIES[r[7] % len(V.COMPANIES)],
            "task": V.CODE_TASKS[r[7] % len(V.CODE_TASKS)], "city": V.CITIES[r[5] % len(V.CITIES)]}


def _fill(template: str, v: dict) -> str:
    return template.format(**v)


PRE = ("", "", "", "", "hey, ", "hi! ", "quick question: ", "ok so ", "sorry if this is dumb but ", "I need help. ",
       "{name} here. ", "Hello, ", "question - ", "my {rel} asked me this: ", "again: ")
POST = ("", "", "", "", " thanks", " thx!", " please keep it short", " in bullet points", " no more than {d} sentences",
        " for a {job}", " - it's for my {rel}", " asap", " :)", " (I'm in {city})", " I tried googling but got confused",
        " and explain why", " with an example", " I'm a beginner", " in plain English", " ty")


def _casual(text: str, r: int, v: dict) -> str:
    """People's own wrapping of a request: a greeting, a constraint, lower case, no question mark."""
    text = PRE[r % len(PRE)].format(**v) + text + POST[(r >> 4) % len(POST)].format(**v)
    if (r >> 9) % 4 == 0:
        text = text.lower()
    if (r >> 11) % 5 == 0:
        text = text.rstrip("?")
    return text


def everyday(r: list[int], topic: str, lang: str = "en", persona: int = 0) -> str:
    """One ordinary request; ``persona`` 1 = developer, 2 = agent developer, 3 = student.

    Args:
        r: the record's random non-negative integers (at least 8), drawn by the caller.
        topic: the subject for templates that take one (the user's favourite topics).
        lang: the user's language code; outside English, three requests in four are written in it.
        persona: 0 everyday user; 1 developer (mostly coding help); 2 agent developer (mostly tool-use
            prompts); 3 student (half homework, asking for steps).

    Returns:
        The prompt, casually wrapped (greetings, constraints, lower case) when in English.
    """
    v = _values(r, topic)
    if lang != "en" and r[0] % 4:
        phrases = LANGS[lang]["everyday" if persona != 3 or r[1] % 2 else "homework"]
        return phrases[r[1] % len(phrases)].format(t=topic, n=v["a"], pl=v["pl"])
    bank = EVERYDAY
    u = r[0] % 100
    if persona == 1 and u < 55 or persona != 1 and u < 6:
        bank = CODE_HELP
    elif persona == 2 and u < 85:
        bank = AGENT_DEV
    elif persona == 3 and u < 50 or u < 9:
        bank = HOMEWORK
    return _casual(_fill(bank[r[1] % len(bank)], v), r[7], v)


def work(r: list[int], topic: str) -> str:
    """One request of a company's staff: work tasks, or (three in ten) an everyday English request.

    Args:
        r: the record's random non-negative integers (at least 8), drawn by the caller.
        topic: the subject for templates that take one.

    Returns:
        The prompt.
    """
    if r[0] % 10 >= 7:
        return everyday(r, topic)
    v = _values(r, topic)
    return _casual(_fill(WORK[r[1] % len(WORK)], v), r[7] >> 3, v)


COURSES = (("MATH 201", "Linear Algebra", ("eigenvalues", "Markov chains", "convex optimization")),
           ("CHEM 110", "General Chemistry", ("buffer solutions", "reaction kinetics", "pKa")),
           ("PHYS 150", "Mechanics", ("angular momentum", "orbital mechanics", "fluid drag")),
           ("ECON 101", "Principles of Economics", ("price elasticity", "comparative advantage", "tariffs")),
           ("CS 161", "Algorithms", ("B-trees", "hash tables", "Dijkstra's algorithm")))
ASKS = ("can you help with this: {p}", "{p} explain step by step please", "I'm stuck on this one: {p}",
        "{p}", "how do I even start this? {p}", "step by step pls: {p}", "{p} (I got {x} but the answer key says "
        "otherwise, where did I go wrong?)", "our TA said to show all steps. {p}", "hw {w} q{q}: {p}")


class ClassWriter:
    """A course's weekly problem sets: every student asks about the same few problems each week.

    Args:
        index: the class number; picks one of ``COURSES`` (repeated courses get a ``-index`` suffix).
        rng: the scenario's seeded generator, for the problems' numbers (4-8 problems a week).
        weeks: weeks in the window; ``weeks + 1`` problem sets are made.
    """

    def __init__(self, index: int, rng: np.random.Generator, weeks: int):
        code, title, topics = COURSES[index % len(COURSES)]
        self.code = f"{code}{'' if index < len(COURSES) else '-' + str(index)}"
        self.system = (f"You are the teaching assistant for {self.code} {title}. Guide students through problems "
                       f"step by step, explain the reasoning, and do not just give the final answer.")
        self.sets = []
        for w in range(weeks + 1):
            t = topics[w % len(topics)]
            self.sets.append([
                f"Problem {q + 1} ({t}): " + _PROBLEM[(w * 7 + q) % len(_PROBLEM)].format(
                    a=int(rng.integers(2, 12)), b=int(rng.integers(2, 30)), c=int(rng.integers(2, 9)), t=t)
                for q in range(int(rng.integers(4, 9)))])

    def write(self, r: list[int], week: int) -> str:
        """A student's question about one problem of a week's set.

        Args:
            r: the record's random non-negative integers (at least 8), drawn by the caller.
            week: the number of deadlines already passed (0-based); past the last set, the last set is used.

        Returns:
            The prompt, e.g. "hw 3 q2: Problem 2 (pKa): …".
        """
        ps = self.sets[min(week, len(self.sets) - 1)]
        q = r[1] % len(ps)
        return ASKS[r[2] % len(ASKS)].format(p=ps[q], x=r[3] % 50, w=week + 1, q=q + 1)


_PROBLEM = ("Find the eigenvalues of [[{a}, {c}], [{c}, {b}]] and one eigenvector for each.",
            "A solution has {b} mM acetic acid and {a} mM acetate (pKa 4.76). What is its pH?",
            "A disk of mass {a} kg and radius 0.{c} m spins at {b} rad/s. Find its angular momentum.",
            "Demand falls from {b}0 to {a}0 units when price rises from {c} to {a} dollars. Compute the elasticity.",
            "Insert the keys 1..{b} into an empty B-tree of minimum degree {c}; draw the tree after each split.",
            "Show that the stationary distribution of a 2-state chain with p = 0.{a}, q = 0.{c} is unique.",
            "The rate constant doubles between {b}0 °C and {a}0 °C. Estimate the activation energy.",
            "Explain why {t} matters for problem {c} of the reading, with a worked example.")


class BatchWriter:
    """One batch account's job: a single template with rows from its data.

    Args:
        index: the batch account's number; picks one of ``JOBS`` (cycling).
    """

    JOBS = ("Classify the sentiment of this review as positive, negative or neutral. Review: \"{p} arrived {adj}, "
            "order {n}\"", "Extract name, price and sku from this listing as JSON: {p} - ${n}.99 - SKU {h}",
            "Translate into German, keep formatting: Your order #{n} has shipped and will arrive on day {d}.",
            "Summarize support ticket {n} in one sentence: customer reports {p} {adj} after {d} days.",
            "Write a 40-word product description for: {p}, colour {adj}, batch {h}")
    ADJ = ("broken", "late", "perfect", "scratched", "blue", "early", "as described")

    def __init__(self, index: int):
        self.job = self.JOBS[index % len(self.JOBS)]

    def write(self, r: list[int]) -> str:
        """One row of the job.

        Args:
            r: the record's random non-negative integers (at least 8), drawn by the caller.

        Returns:
            The job's template filled with a product, adjective, numbers and a hex code.
        """
        return self.job.format(p=V.PRODUCTS[r[1] % len(V.PRODUCTS)], adj=self.ADJ[r[2] % len(self.ADJ)],
                               n=r[3] % 100000, h=f"{r[4] % 0xffffff:06X}", d=1 + r[5] % 9)


class LabWriter:
    """A research lab's evaluation items: a fixed bank, repeated run after run (and on the new model).

    Args:
        index: the lab's number (unused: banks differ through ``rng``).
        rng: the scenario's seeded generator; draws 150-599 items (multiple choice, arithmetic word
            problems, code stubs), 60% of labs ending the first two forms with "Let's think step by step.".
    """

    def __init__(self, index: int, rng: np.random.Generator):
        n = int(rng.integers(150, 600))
        cot = rng.random() < 0.6
        subjects = ("high school physics", "college chemistry", "professional law", "econometrics",
                    "clinical knowledge", "abstract algebra", "world religions", "computer security")
        self.items = []
        for i in range(n):
            s = subjects[int(rng.integers(len(subjects)))]
            t = V.ALL_TOPICS[int(rng.integers(len(V.ALL_TOPICS)))]
            a, b = int(rng.integers(2, 90)), int(rng.integers(2, 90))
            form = i % 3
            if form == 0:
                q = (f"The following is a multiple choice question about {s}.\nQuestion: Which statement about {t} "
                     f"is correct?\nA) ... B) ... C) ... D) ...\nAnswer:")
            elif form == 1:
                q = f"Question: A shop sells {a} apples on Monday and {b} more on Tuesday than Monday. Total?\nAnswer:"
            else:
                q = f'def f_{i}(xs):\n    """Return the {a}-th smallest distinct value in xs, or None."""\n'
            self.items.append(q + (" Let's think step by step." if cot and form < 2 else ""))

    def write(self, r: list[int]) -> str:
        """One item of the bank.

        Args:
            r: the record's random non-negative integers (at least 8), drawn by the caller.

        Returns:
            The item text, ``items[r[1] % len(items)]``.
        """
        return self.items[r[1] % len(self.items)]
