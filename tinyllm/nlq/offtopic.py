"""Questions no search of the indexes can answer: the negatives the out-of-scope check (scope.py) learns from.

A user of a search box also types requests meant for an assistant: the weather, a sum, a recipe, a chat. Run
through the translator they become a confident, wrong query (on the shipped model "what time is it in Tokyo"
was translated to `term author: "Tokyo"`). This grammar writes such requests across everyday intents, with
several wordings each; the hand-written out-of-scope set in `data/nlq_out_of_scope.jsonl` (written separately,
half of it on intents these templates never use) measures whether the check generalises beyond them.

A second family is on topic but unanswerable: it names papers, books and authors, yet asks for what the indexes
do not store (citations, ratings, prices, biographies, affiliations, adaptations). Without it the translator
turned "what is Yann LeCun's h-index" into `term author: "Yann LeCun"`, a valid query for another question.
Some of its wordings wrap an in-scope request (`SUBJECTS`: "papers by {author}", "{book}") in one unstored
attribute ("{subject} with the most citations"): minimal pairs with the distilled questions, so the check learns
that the attribute word outweighs an otherwise in-scope frame instead of keying on the frame's short wordings.
"""
import random

CITIES = ["Paris", "Tokyo", "Lisbon", "Nairobi", "Toronto", "Lima", "Oslo", "Hanoi", "Cairo", "Denver", "Perth"]
FOODS = ["pancakes", "rice", "lasagna", "an omelette", "pasta", "chicken curry", "banana bread", "soup", "tofu"]
DEVICES = ["phone", "laptop", "printer", "router", "tablet", "smart tv", "headphones", "keyboard"]
PRODUCTS = ["a bicycle", "running shoes", "a coffee machine", "a sofa", "a winter coat", "a tent"]
LANGS = ["French", "Spanish", "German", "Japanese", "Italian", "Korean", "Portuguese"]
PHRASES = ["good night", "where is the station", "I am hungry", "see you tomorrow", "how much is this"]
WHEN = ["today", "tomorrow", "this weekend", "tonight", "on Friday", "next week"]
PEOPLE = ["my sister", "mom", "the landlord", "my manager", "Alex", "the dentist"]
TASKS = ["water the plants", "pay rent", "call the bank", "pick up the kids", "take my pills"]
CODE = ["Python", "JavaScript", "Rust", "Go", "SQL", "Bash"]
CODE_TASKS = ["sorts a list", "reads a csv file", "checks if a number is prime", "merges two dictionaries"]
TEAMS = ["the Lakers", "Arsenal", "the Yankees", "Real Madrid", "the All Blacks"]
COUNTRIES = ["Canada", "Kenya", "Peru", "Norway", "Vietnam", "Egypt", "Chile", "Ghana"]
ILLNESSES = ["the flu", "a migraine", "food poisoning", "a cold", "hay fever"]
AUTHORS = ["Geoffrey Hinton", "Ada Lovelace", "Leo Tolstoy", "Emily Bronte", "Andrew Ng", "Jules Verne", "Li Wei"]
BOOKS = ["Moby Dick", "War and Peace", "Little Women", "Jane Eyre", "The Odyssey", "Heart of Darkness", "Ulysses"]
PAPERS = ["the transformer paper", "BERT", "the ResNet paper", "the diffusion survey", "AlphaFold"]
TOPICS = ["graph neural networks", "robotics", "quantum computing", "speech recognition", "computer vision"]
SUBJECTS = ["{topic} papers", "papers by {author}", "{author}'s latest paper", "the newest papers on {topic}",
            "passages from {book}", "books by {author}", "the first author of {paper}", "{book}", "{paper}",
            "arXiv papers from {year}", "the longest book by {author}", "surveys on {topic}", "{author}'s novels"]

# (intent, [wordings]); {slot} names a list above, {n} and {m} small numbers
TEMPLATES = [
    ("weather", ["what's the weather in {city} {when}", "will it rain {when}", "is it going to snow in {city}",
                 "forecast for {city} {when}", "how hot will it be {when}", "do I need an umbrella {when}"]),
    ("cooking", ["how do I cook {food}", "recipe for {food}", "how long should I bake {food}",
                 "what goes well with {food}", "can I freeze {food}", "easy dinner ideas with {food}"]),
    ("arithmetic", ["what is {n} plus {m}", "{n} times {m}", "what's {n} divided by {m}", "square root of {n}",
                    "calculate {n} percent of {m}", "is {n} a prime number"]),
    ("travel", ["book a flight to {city}", "cheap hotels in {city}", "how far is {city} from {city2}",
                "train times to {city} {when}", "do I need a visa for {country}", "best time to visit {city}"]),
    ("clock", ["what time is it in {city}", "set an alarm for {n} am", "start a timer for {n} minutes",
               "remind me to {task} {when}", "what day is it {when}", "wake me up at {n}"]),
    ("chat", ["hello", "hi there, how are you?", "tell me a joke", "who made you", "thanks a lot",
              "good morning!", "what's your name", "are you a robot", "I'm bored", "can you sing a song"]),
    ("trivia", ["what is the capital of {country}", "who is the president of {country}",
                "population of {country}", "what currency does {country} use", "how tall is the eiffel tower",
                "how many legs does a spider have"]),
    ("shopping", ["how much does {product} cost", "where can I buy {product}", "order {product} online",
                  "compare prices for {product}", "is {product} on sale {when}"]),
    ("money", ["convert {n} euros to dollars", "stock price of apple {when}", "exchange rate in {country}",
               "how do I open a bank account", "what's a good savings rate"]),
    ("tech support", ["how do I reset my {device}", "my {device} won't turn on", "update the software on my {device}",
                      "why is my {device} so slow", "connect my {device} to wifi", "forgot my email password"]),
    ("health", ["how many calories are in {food}", "is {food} healthy", "symptoms of {illness}",
                "how do I get rid of {illness}", "how much water should I drink a day"]),
    ("sports", ["did {team} win last night", "when do {team} play next", "score of the {team} game",
                "who won the world cup in {year}", "tickets for {team} {when}"]),
    ("coding", ["write a {code} function that {code_task}", "fix this {code} error", "how do I install {code}",
                "explain recursion in {code}", "what is a null pointer"]),
    ("language", ["translate '{phrase}' into {lang}", "how do you say {phrase} in {lang}",
                  "what does {phrase} mean in {lang}", "teach me {lang}"]),
    ("messages", ["send a message to {person}", "call {person}", "text {person} that I'm late",
                  "email {person} about {when}", "what did {person} say"]),
    # on topic, unanswerable (the intents in UNANSWERABLE): what the indexes do not store
    ("citations", ["citation count of {paper}", "how often has {paper} been cited", "most cited papers about {topic}",
                   "papers that cite {paper}", "who cites {author} the most", "total citations of {author}"]),
    ("researcher metrics", ["h-index of {author}", "how influential is {author}", "i10-index of {author}",
                            "impact factor of the journals {author} publishes in", "is {author} a famous scientist",
                            "ranking of the best researchers in {topic}"]),
    ("affiliation", ["where does {author} work", "which lab is {author} in", "what university employs {author}",
                     "contact details for {author}", "phone number of {author}", "what is the email of {author}"]),
    ("awards", ["did {paper} win an award", "best paper awards in {topic}", "which prizes has {author} won",
                "nobel prize winners among {topic} researchers"]),
    ("book commerce", ["buy {book} in paperback", "price of a used copy of {book}", "{book} ebook price",
                       "isbn for {book}", "which publisher printed {book}", "how many copies has {book} sold"]),
    ("ratings", ["goodreads rating of {book}", "is {book} any good", "reviews of {book}", "star rating for {paper}",
                 "what do critics say about {book}", "should I read {book}"]),
    ("biography", ["when did {author} die", "where did {author} grow up", "was {author} married",
                   "how old is {author}", "birthday of {author}", "biography of {author}"]),
    ("adaptations", ["film version of {book}", "who starred in the movie of {book}", "is there a tv series of {book}",
                     "audiobook narrator of {book}", "stage play of {book}"]),
    ("book length", ["how many pages does {book} have", "page count of {paper}", "word count of {book}",
                     "how long does it take to read {book}"]),
    # the same intents wrapped around an in-scope request ({subject}, one of SUBJECTS)
    ("citations", ["{subject} with the most citations", "how many times were {subject} cited",
                   "citation counts of {subject}", "rank {subject} by citations", "which of {subject} is most cited"]),
    ("researcher metrics", ["impact factor of {subject}", "how influential are {subject}",
                            "which authors of {subject} have the highest h-index"]),
    ("affiliation", ["email address of the authors of {subject}", "which universities wrote {subject}",
                     "affiliations of the authors of {subject}", "who funded {subject}"]),
    ("awards", ["which of {subject} won an award", "award-winning {subject}", "prizes given to {subject}"]),
    ("book commerce", ["how much do {subject} cost", "where can I buy {subject}", "publisher of {subject}",
                       "sales figures for {subject}"]),
    ("ratings", ["reader ratings of {subject}", "the best reviewed of {subject}", "are {subject} worth reading",
                 "who peer-reviewed {subject}", "reviews of {subject}"]),
    ("biography", ["how old was the author of {subject}", "where was the author of {subject} born",
                   "when did the author of {subject} die"]),
    ("adaptations", ["films adapted from {subject}", "movies based on {subject}", "audiobooks of {subject}"]),
    ("book length", ["how many pages are {subject}", "page count of {subject}", "the shortest of {subject} in pages",
                     "word counts of {subject}"]),
]

UNANSWERABLE = frozenset(("citations", "researcher metrics", "affiliation", "awards", "book commerce", "ratings",
                          "biography", "adaptations", "book length"))


def generate(n, seed=0, subjects=None):
    """n (intent, question) pairs, deterministic for a seed; (intent, wordings) drawn uniformly, then a wording,
    its {subject} (if any), then the slots. `subjects` (e.g. in-scope questions) replaces SUBJECTS as the pool."""
    rng = random.Random(seed)
    slots = {"city": CITIES, "city2": CITIES, "food": FOODS, "device": DEVICES, "product": PRODUCTS,
             "lang": LANGS, "phrase": PHRASES, "when": WHEN, "person": PEOPLE, "task": TASKS, "code": CODE,
             "code_task": CODE_TASKS, "team": TEAMS, "country": COUNTRIES, "illness": ILLNESSES,
             "author": AUTHORS, "book": BOOKS, "paper": PAPERS, "topic": TOPICS}
    out = []
    for _ in range(n):
        intent, wordings = rng.choice(TEMPLATES)
        wording = rng.choice(wordings)
        if subjects is None:
            wording = wording.replace("{subject}", rng.choice(SUBJECTS))
        text = wording.format(n=rng.randint(2, 99), m=rng.randint(2, 99), year=rng.randint(1950, 2024),
                              subject="{subject}", **{k: rng.choice(v) for k, v in slots.items()})
        if subjects is not None:
            subject = rng.choice(subjects).rstrip("?!. ")
            text = text.replace("{subject}", subject[:1].lower() + subject[1:])
        if rng.random() < 0.3:
            text = text[:1].upper() + text[1:]
        if rng.random() < 0.3 and not text.endswith(("?", "!")):
            text += "?"
        out.append((intent, text))
    return out
