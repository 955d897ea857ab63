"""Phrase banks of the traffic simulator: ordinary prompts, benchmark items and extraction templates.

Written separately from the classifier's training prompts (``detect/data/prompts_train.tsv``) so
that a detector scored on simulated logs is not scored on the sentences it learned from.
"""

from __future__ import annotations

TOPICS = [
    "photosynthesis", "the French revolution", "binary search trees", "compound interest", "TCP congestion control",
    "the Krebs cycle", "plate tectonics", "Bayesian inference", "the Treaty of Westphalia", "Rust lifetimes",
    "inflation targeting", "CRISPR gene editing", "the Doppler effect", "quicksort", "supply chain finance",
    "Kant's categorical imperative", "black holes", "SQL window functions", "the immune response to vaccines",
    "carbon pricing", "Fourier transforms", "the Meiji restoration", "gradient descent", "contract law",
    "protein folding", "Byzantine fault tolerance", "Keynesian economics", "the water cycle", "public-key cryptography",
    "Shakespeare's sonnets", "antibiotic resistance", "urban heat islands", "the Silk Road", "Markov chains",
    "organic chemistry reaction mechanisms", "GDPR compliance", "lithium-ion batteries", "the Cold War",
    "dynamic programming", "coral reef ecology", "monetary policy", "the theory of relativity", "epidemiology",
    "game theory", "Docker networking", "medieval trade guilds", "tax law for freelancers", "neural networks",
]

# Everyday requests of genuine users (several languages). {t} is a topic, {n} a number.
BENIGN = [
    "can you explain {t} in simple terms?", "what is {t}", "write a short email to my manager asking for {n} days off",
    "summarize this paragraph for me: the meeting moved to thursday and the budget review is postponed",
    "give me a recipe for dinner with chicken and rice for {n} people", "translate 'good morning, how are you' into Spanish",
    "fix this python error: TypeError: 'NoneType' object is not subscriptable", "what's a good name for a cat",
    "help me write a birthday message for my sister", "is it safe to eat eggs after the best-before date?",
    "how do I center a div in css", "write a haiku about {t}", "explain {t} like I'm five",
    "what are the pros and cons of {t}?", "draft a cover letter for a junior data analyst position",
    "how many calories are in a banana", "recommend {n} books about {t}", "why is my sourdough so dense",
    "rewrite this sentence to sound more professional: we cant do it by friday",
    "how do I convert a list of strings to integers in python", "plan a {n}-day trip to Lisbon",
    "what's the difference between affect and effect", "write a SQL query to count orders per customer",
    "give me ideas for a team building event", "how does {t} relate to everyday life?",
    "solve for x: {n}x + 3 = 2x + 15, show the steps", "what time zone is Tokyo in",
    "tell me a joke about programmers", "help me understand my electricity bill",
    "explique-moi {t} simplement", "écris un message pour remercier mon collègue",
    "wie funktioniert {t}?", "schreib mir eine kurze E-Mail an den Vermieter wegen der Heizung",
    "¿qué es {t}?", "ayúdame a escribir una carta de presentación", "请用简单的话解释{t}", "帮我写一封请假邮件",
    "что такое {t}?", "помоги написать поздравление с днём рождения", "{t}について簡単に教えて",
    "debug this javascript: undefined is not a function when I call map", "what should I pack for a hiking trip",
    "compare iphone and android for an elderly parent", "how do I ask for a raise",
]

# Work requests seen behind a corporate or university NAT.
WORK = [
    "review this pull request description and suggest improvements", "write unit tests for a function that parses dates",
    "summarize the attached meeting notes into action items", "explain the difference between {t} and its alternatives",
    "draft a project update for stakeholders about the Q{n} roadmap", "help me structure a literature review on {t}",
    "what does this regex do: ^[a-z0-9_-]{{3,16}}$", "convert this bash script to python",
    "write a polite reminder to a client about invoice #{n}", "outline a lecture on {t} for first-year students",
    "proofread my abstract about {t}", "make this slide title shorter: quarterly performance of the EMEA region",
    "why does my kubernetes pod keep restarting", "suggest a grading rubric for an essay on {t}",
]

# Students of one course behind the university NAT, working through the same problem set.
HOMEWORK = [
    "Problem {n} of this week's set on {t}: solve it step by step and show your work please",
    "can you walk me through exercise {n} about {t}? I need the steps for my homework",
    "Explain step by step how to approach question {n} on {t}, our lecturer wants the full reasoning",
]

# A startup batch-processing code: one templated family, huge volume.
BATCH = "Refactor the following Python function for readability and add type hints. Return only code.\n\ndef handler_{n}(event, ctx):\n    items = event.get('items', [])\n    return [i * {m} for i in items if i]"

# Benchmark-evaluation researchers: MMLU-like items with chain-of-thought instructions.
BENCH_SUBJECTS = ["high school physics", "college chemistry", "professional law", "econometrics",
                  "clinical knowledge", "abstract algebra", "world religions", "computer security"]
BENCH = [
    "The following is a multiple choice question about {s}.\nQuestion {n}: Which statement about {t} is correct?\n"
    "A) option one B) option two C) option three D) option four\nLet's think step by step.",
    "Question {n} ({s}): Which of the following best describes {t}?\n(A) first (B) second (C) third (D) fourth\n"
    "Answer: Let's think step by step.",
    "Q{n}. [{s}] Consider {t}. Which choice is right? A. w B. x C. y D. z\nAnswer with the letter only.",
]

# Extraction and chain-of-thought templates of the simulated campaigns, in several languages.
# Each campaign draws its own subset and paraphrases them; {t} is the topic slot.
CAMPAIGN = [
    "Explain {t} in full detail. Before giving the final answer, write out every intermediate reasoning step and "
    "number each step.",
    "You are an expert tutor. For the topic '{t}', reason through the problem slowly, showing your complete "
    "internal chain of thought, then state the conclusion.",
    "Topic: {t}. Task: generate a hard question on this topic, then answer it while narrating each reasoning "
    "step explicitly. Format: <thinking>...</thinking><answer>...</answer>",
    "Walk me through {t} one step at a time. Do not skip steps; make your reasoning process fully visible.",
    "For {t}: list every sub-skill an expert needs, and for each one give a worked example with detailed "
    "step-by-step reasoning.",
    "Solve a difficult problem about {t}. Think aloud: show all your reasoning, every assumption and every "
    "calculation before the answer.",
    "Rate your confidence from 1-10 on {t}, then give your detailed reasoning trace that justifies the rating.",
    "Act as a teacher model. Produce a long, rigorous explanation of {t} including the full derivation, "
    "reasoning step by step.",
    "Détaille ton raisonnement étape par étape sur {t}, puis donne la réponse finale.",
    "Erkläre {t} und zeige dabei jeden Denkschritt ausführlich, bevor du antwortest.",
    "Explica {t} razonando paso a paso y mostrando todo tu proceso de pensamiento.",
    "请一步一步地推理关于{t}的问题，写出完整的思考过程，然后给出答案。",
    "Объясни {t}, подробно расписав каждый шаг рассуждения перед ответом.",
    "{t}について、最終的な答えの前に推論の過程をすべて段階的に書いてください。",
    "Give me your complete reasoning about {t}: break it into numbered steps, justify each, and only then answer.",
    "Here is a topic: {t}. Produce 5 diverse exam questions with fully worked, step-by-step solutions.",
]

# Campaign wrappers: operators vary phrasing around the same template.
PREFIXES = ["", "", "Please ", "Task #{n}: ", "[batch {n}] ", "Hi! ", "Quick one: "]
SUFFIXES = ["", "", " Be thorough.", " Use as many tokens as needed.", " Answer in English.", " Thanks."]

SYSTEM_PROMPTS = [
    None, None, None, "You are a helpful assistant.", "You are ChatGPT-like assistant for our app.",
]
CAMPAIGN_SYSTEM = [
    "You are a meticulous reasoning engine. Always show full reasoning.",
    "Respond as a world-class expert. Include your complete thought process.",
    "You are a data generation assistant. Output detailed, verbose answers.",
    "Reason carefully and exhaustively before answering.",
]

BROWSER_UA = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
]
SDK_UA = ["OpenAI/Python 1.54.3", "python-requests/2.32.3", "node-fetch/1.0", "curl/8.5.0", "langchain/0.3.7"]
