"""Word lists the prompt writers draw slot values from: fields and their subtopics, tasks, names."""

from __future__ import annotations

# A capability taxonomy: field → subtopics. Sweep operators walk it; ordinary users touch a corner of it.
FIELDS: dict[str, tuple[str, ...]] = {
    "mathematics": ("group theory", "eigenvalues", "generating functions", "measure theory", "graph colouring",
                    "modular arithmetic", "convex optimization", "Markov chains", "Taylor series", "Bayes' theorem"),
    "physics": ("special relativity", "the Carnot cycle", "quantum tunnelling", "Maxwell's equations", "fluid drag",
                "angular momentum", "semiconductor band gaps", "Doppler shift", "entropy", "orbital mechanics"),
    "chemistry": ("SN2 reactions", "buffer solutions", "chirality", "electrochemical cells", "reaction kinetics",
                  "crystal field theory", "polymerization", "chromatography", "Le Chatelier's principle", "pKa"),
    "biology": ("the Krebs cycle", "CRISPR-Cas9", "T-cell activation", "meiosis", "horizontal gene transfer",
                "photosynthesis", "protein folding", "the action potential", "epigenetics", "coral bleaching"),
    "medicine": ("beta blockers", "sepsis management", "type 2 diabetes", "antibiotic stewardship", "ECG reading",
                 "asthma inhalers", "drug interactions of warfarin", "stroke triage", "anemia", "vaccine schedules"),
    "law": ("adverse possession", "the GDPR's lawful bases", "consideration in contract law", "fair use",
            "habeas corpus", "non-compete clauses", "strict liability", "the Miranda warning", "trademark dilution",
            "tenant eviction rules"),
    "finance": ("discounted cash flow", "the Black-Scholes model", "bond duration", "working capital", "short selling",
                "index funds", "interest rate swaps", "EBITDA", "capital gains tax", "venture debt"),
    "economics": ("comparative advantage", "inflation targeting", "the Phillips curve", "price elasticity",
                  "moral hazard", "quantitative easing", "Nash equilibrium", "minimum wage effects", "tariffs",
                  "the tragedy of the commons"),
    "history": ("the Meiji restoration", "the fall of Constantinople", "the Marshall Plan", "the Haitian revolution",
                "the Silk Road", "the Congress of Vienna", "the Cuban missile crisis", "the Black Death",
                "the partition of India", "the Hanseatic League"),
    "computer science": ("B-trees", "Raft consensus", "TCP congestion control", "garbage collection",
                         "public-key cryptography", "hash tables", "compilers' register allocation",
                         "CAP theorem", "transformer attention", "bloom filters"),
    "software engineering": ("dependency injection", "blue-green deployments", "database migrations",
                             "feature flags", "code review practice", "flaky tests", "API versioning",
                             "observability", "monorepos", "threat modelling"),
    "philosophy": ("Kant's categorical imperative", "the trolley problem", "Hume's problem of induction",
                   "utilitarianism", "the ship of Theseus", "existentialism", "the Chinese room",
                   "virtue ethics", "free will", "Plato's cave"),
    "literature": ("Shakespeare's sonnets", "magical realism", "the unreliable narrator", "Homer's Odyssey",
                   "haiku form", "the Bildungsroman", "Dostoevsky's Crime and Punishment", "free verse",
                   "Toni Morrison's Beloved", "satire"),
    "geography": ("plate tectonics", "monsoons", "urban heat islands", "river deltas", "desertification",
                  "the water cycle", "glacial erosion", "population pyramids", "El Niño", "karst landscapes"),
}
ASPECTS = ("core definitions", "worked examples", "common misconceptions", "edge cases", "historical development",
           "practical applications", "open problems", "quantitative estimates", "comparison with alternatives",
           "exam-style questions")
ALL_TOPICS: tuple[str, ...] = tuple(t for ts in FIELDS.values() for t in ts)

PROG_LANGS = ("Python", "Rust", "Go", "TypeScript", "Java", "C++", "Kotlin", "C#", "Haskell", "Swift")
CODE_TASKS = ("a thread-safe LRU cache", "a token-bucket rate limiter", "a B-tree with deletion", "a JSON parser",
              "Dijkstra's shortest paths", "a trie with prefix counts", "Raft leader election",
              "an interval tree", "a consistent-hashing ring", "a skip list", "a regex matcher with . and *",
              "a min-cost max-flow solver", "a bloom filter", "an LSM-tree memtable", "a CSV reader that handles quotes",
              "a retry decorator with exponential backoff", "a topological sort with cycle detection",
              "an async worker pool", "a segment tree with lazy propagation", "a Huffman encoder")
CP_PROBLEMS = (
    "Given an array of {a} integers, find the length of the longest subarray whose sum is divisible by {b}.",
    "Count the lattice paths from (0,0) to ({a},{b}) that never go above the diagonal, modulo 1e9+7.",
    "A string of length {a} contains only 'L' and 'R'. Find the minimum flips so that no {b} equal letters are adjacent.",
    "Given {a} intervals, choose the maximum number of pairwise disjoint ones when each has weight at most {b}.",
    "There are {a} cities connected by roads; find the number of roads whose removal disconnects city 1 from city {b}.",
    "Find the k-th smallest element ({b}) in the union of two sorted arrays of sizes {a} and {b}.",
    "A robot on a {a}x{b} grid can move right or down; cells may be blocked. Count paths avoiding blocked cells.",
    "Given a tree with {a} nodes, answer {b} queries for the lowest common ancestor of two nodes.",
)
TOOLS = (
    ('search_web', 'query: string'), ('open_url', 'url: string'), ('read_file', 'path: string'),
    ('write_file', 'path: string, content: string'), ('run_shell', 'cmd: string'),
    ('sql_query', 'query: string'), ('send_email', 'to: string, subject: string, body: string'),
    ('calendar_create', 'title: string, start: datetime, minutes: int'), ('python', 'code: string'),
    ('get_weather', 'city: string, date: string'), ('book_flight', 'from: string, to: string, date: string'),
    ('crm_lookup', 'customer_id: string'),
)
AGENT_TASKS = (
    "book the cheapest refundable flight from {c1} to {c2} next Tuesday under {n} dollars",
    "find why the CI pipeline fails on the main branch of the payments service and open a fix",
    "reconcile last month's invoices against the bank export and list mismatches",
    "research three competitors' pricing pages and build a comparison table",
    "clean the customer table: merge duplicates by email, keep the newest address",
    "schedule a 30-minute sync with everyone who commented on ticket {n}",
    "download the quarterly report, extract revenue by region and plot it",
    "migrate the cron jobs on the build server to systemd timers",
    "answer the support ticket from customer {n} using the refund policy document",
    "find a dentist in {c1} open on Saturday and add the appointment to my calendar",
    "triage the {n} newest GitHub issues: label, deduplicate and assign",
    "upgrade the project's dependencies, run the tests and summarize what broke",
)
OBSERVATIONS = (
    'Observation: {{"status": 200, "results": ["{c1} - {c2} 08:15 $412", "{c1} - {c2} 13:40 $388"]}}',
    "Observation: FAILED tests/test_api.py::test_refund - AssertionError: expected 200, got 500",
    'Observation: {{"rows": {n}, "columns": ["id", "email", "created_at", "address"]}}',
    "Observation: permission denied: /etc/cron.d/backup",
    'Observation: {{"error": "rate_limited", "retry_after": {n}}}',
    "Observation: 3 matching documents found: refund_policy_v2.pdf, faq.md, escalation.txt",
)
CITIES = ("Lisbon", "Osaka", "Denver", "Nairobi", "Krakow", "Austin", "Lyon", "Seoul", "Bogota", "Melbourne",
          "Toronto", "Istanbul", "Mumbai", "Hamburg")
COMPANIES = ("Northwind", "Globex", "Initech", "Umbrella Logistics", "Hooli", "Vandelay Imports", "Stark Analytics",
             "Wayne Biotech", "Acme Retail", "Soylent Foods")
PRODUCTS = ("wireless earbuds", "standing desk", "espresso machine", "trail running shoes", "air purifier",
            "mechanical keyboard", "baby stroller", "cast iron pan", "e-reader", "yoga mat")
