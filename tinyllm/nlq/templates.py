"""The template grammar's shared machinery: filter clauses with their wordings, bool assembly, and question heads.

A question is built in two halves. Filters (from grammar_articles / grammar_gutenberg) each carry a DSL clause,
the bool slot it belongs in (text -> must, exact -> filter, negation -> must_not) and several ways to say it.
A head (search, count, top-k, group-by, ...) wraps the assembled query into a body and says the whole thing in
one of many phrasings: full questions, commands, or terse keyword style.
"""
from dataclasses import dataclass, field

from .validate import MAX_BUCKETS


@dataclass
class Clause:
    """One filter: the DSL clause, its bool slot, noun-phrase modifiers (`post`), optional adjective (`pre`), terse form."""
    kind: str
    dsl: dict
    slot: str                  # "must" | "filter" | "must_not" | "should" (dsl is then bool.should + msm 1)
    post: list                 # e.g. ["by Hao Li", "first-authored by Hao Li"]
    pre: list = field(default_factory=list)   # e.g. ["robotics"] -> "robotics papers"
    terse: list = field(default_factory=list)  # e.g. ["author Hao Li"]
    text_field: str = ""       # the text field a match clause searches (for highlight heads)
    extra: dict = field(default_factory=dict)  # e.g. {"now": DATA_NOW}
    said: str = ""             # a text value as the question names it, unquoted ("Captain Hook"), for "where is X"


def assemble(clauses):
    """Clauses -> one query: a single positive clause stays bare, anything else becomes bool(must, filter, must_not)."""
    if not clauses:
        return None
    if len(clauses) == 1 and clauses[0].slot in ("must", "filter"):
        return clauses[0].dsl
    parts = {}
    for slot in ("must", "filter", "must_not"):
        got = [c.dsl for c in clauses if c.slot == slot]
        if got:
            parts[slot] = got
    for c in clauses:       # an "either A or B" clause: its alternatives become this bool's should, one required
        if c.slot == "should":
            parts["should"] = c.dsl["bool"]["should"]
            parts["minimum_should_match"] = 1
    return {"bool": parts}


def noun_phrase(rng, noun, clauses):
    """'robotics papers by Hao Li from last month': at most one adjective, then the modifiers in a shuffled order.

    A topic (a text clause with a pre-noun form: "vision-language papers in cs.CV") is the adjective two times in
    three when there is one, so the topic in front of the noun is said inside multi-filter questions too."""
    pre = [c for c in clauses if c.pre]
    topics = [c for c in pre if c.text_field]
    adjective = ""
    rest = list(clauses)
    if pre and rng.random() < 0.6:
        chosen = rng.choice(topics if topics and rng.random() < 0.67 else pre)
        adjective = rng.choice(chosen.pre) + " "
        rest.remove(chosen)
    rng.shuffle(rest)
    mods = [published_verb(rng, rng.choice(c.post)) for c in rest if c.post]   # no wording: said by its partner
    if len(mods) >= 2 and rng.random() < 0.3:
        mods = mods[:-1] + ["and " + mods[-1]]
    return " ".join([adjective + noun] + mods).strip()


# other ways to say "published" (round 9): with them "came out in 1847" is a date, not a phrase to search for
PUBLISHED_VERBS = ["that came out", "which came out", "that were published", "first published", "that appeared",
                   "released", "that were released", "put out", "that were written", "written"]
VERB_RATE = 0.3


def published_verb(rng, mod):
    """'published in 2025' -> 'that came out in 2025' VERB_RATE of the time; any other modifier unchanged."""
    if mod.startswith("published ") and rng.random() < VERB_RATE:
        return rng.choice(PUBLISHED_VERBS) + mod[len("published"):]
    return mod


def verb_rest(rng, clauses):
    """What follows "what came out": the date clause's phrase without its verb, then the other modifiers
    ("last month in cs.CL"); None without a date clause said with "published"."""
    dated = [c for c in clauses if any(p.startswith("published ") for p in c.post)]
    if not dated or any(not c.post for c in clauses):
        return None
    when = rng.choice([p for p in dated[0].post if p.startswith("published ")])[len("published "):]
    others = [rng.choice(c.post) for c in clauses if c is not dated[0]]
    rng.shuffle(others)
    return " ".join([when] + others)


def bare_rest(rng, clauses):
    """Every clause's modifier, shuffled, with no noun ("by Hao Li in cs.CV", for "everything by Hao Li in cs.CV");
    None when a clause has no wording of its own."""
    if not clauses or any(not c.post for c in clauses):
        return None
    mods = [published_verb(rng, rng.choice(c.post)) for c in clauses]
    rng.shuffle(mods)
    return " ".join(mods)


def terse_phrase(rng, noun, clauses):
    """Keyword style: 'cs.CV Hao Li last month' (sometimes with the noun)."""
    bits = [rng.choice(c.terse or c.post) for c in clauses if c.terse or c.post]
    rng.shuffle(bits)
    if rng.random() < 0.4:
        bits.append(noun)
    return " ".join(bits)


def either_terms(rng, kind, field, a, b, wordings):
    """A `terms` filter on `field` for a or b, named in random order; the wordings use {x} and {y} for the pair."""
    x, y = (a, b) if rng.random() < 0.5 else (b, a)
    return Clause(kind, {"terms": {field: [x, y]}}, "filter", [w.format(x=x, y=y) for w in wordings],
                  terse=[f"{x} OR {y}"])


def listing(items):
    """['a', 'b', 'c'] -> 'a, b and c' (how people list the words a match must all contain)."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 10: "ten", 20: "twenty"}


def number(rng, k):
    """A count as people type it: the digits, or a third of the time the word ("five"), which the model must
    then write as a literal."""
    return NUMBER_WORDS[k] if k in NUMBER_WORDS and rng.random() < 0.33 else k


def say(rng, forms, **slots):
    """Pick one phrasing and fill it; first letter capitalised half the time (people type both), unless the first
    word is a value whose case matters (a category code such as cs.CV)."""
    text = rng.choice(forms).format(**slots)
    text = " ".join(text.split())
    first = text.split(" ", 1)[0]
    if first.isalpha() and first != "arXiv" and rng.random() < 0.5:
        text = text[0].upper() + text[1:]
    return text


# clause kind -> the intent a one-filter search is labelled with (shared vocabulary with the hand-written test set)
KIND_INTENT = {"author": "author_lookup", "coauthor": "coauthor_lookup", "coauthor_pair": "coauthor_lookup",
               "category": "category", "category_name": "category", "category_or": "category",
               "category_code": "category", "either_author": "coauthor_lookup",
               "title_word": "title_words", "title_words_and": "title_words", "title_phrase": "title_phrase",
               "abstract_word": "content_words", "abstract_words_and": "content_words",
               "content_word": "content_words", "content_words_and": "content_words",
               "abstract_phrase": "content_phrase", "content_phrase": "content_phrase",
               "date_relative": "date_relative", "title": "title_lookup", "book_short": "title_lookup",
               "book_id": "title_lookup", "author_surname": "author_lookup", "authors_surname": "author_lookup"}


def search_intent(clauses):
    """One positive filter -> its lookup intent (dates absolute unless relative); several -> bool_combo."""
    if len(clauses) > 1:
        return "bool_combo"
    kind = clauses[0].kind
    return KIND_INTENT.get(kind, "date_absolute" if kind.startswith(("date", "pub")) else kind)


def merge_extra(clauses):
    out = {}
    for c in clauses:
        out.update(c.extra)
    return out


# ---------------------------------------------------------------- heads: wording and body for each kind of answer

SEARCH_FORMS = ["{np}", "show me {np}", "find {np}", "list {np}", "list all {np}", "get {np}", "search for {np}",
                "any {np}?", "which {np} are there?", "I'm looking for {np}", "give me {np}", "retrieve {np}",
                "{np}, please", "what are the {np}?", "can you find {np}?", "display {np}",
                "what {np} do we have?", "are there {np}?", "fetch {np}", "pull up {np}", "I need {np}", "look up {np}",
                "{np}?"]
COUNT_FORMS = ["how many {np}?", "how many {np} are there?", "number of {np}", "count {np}", "count the {np}",
               "count of {np}", "total number of {np}", "how many {np} do we have?", "what is the number of {np}?",
               "tell me how many {np} exist", "{np}: how many?", "give me the count of {np}", "{np} count",
               "how many {np} can you find?", "tally the {np}"]
NEWEST_FORMS = ["the {k} newest {np}", "latest {k} {np}", "{k} most recent {np}", "show the {k} latest {np}",
                "what are the {k} newest {np}?", "most recent {k} {np}", "top {k} newest {np}", "{k} latest {np}",
                "the {k} most recently published {np}", "newest {k} {np}"]
SINGLE_NEWEST_FORMS = ["the newest of the {np}", "the most recent of the {np}", "latest one among {np}",
                       "what is the most recent of the {np}?", "the single latest of the {np}"]
SINGLE_OLDEST_FORMS = ["the oldest of the {np}", "the earliest of the {np}", "the first of the {np} ever published",
                       "what is the oldest of the {np}?"]
OLDEST_FORMS = ["the {k} oldest {np}", "earliest {k} {np}", "first {k} {np} ever published", "{k} oldest {np}",
                "show the {k} earliest {np}", "what are the {k} oldest {np}?"]
PAGE_FORMS = ["{page} of the newest {np}, {k} per page", "{np}, newest first, page {p} ({k} per page)",
              "results {a} to {b} of the most recent {np}", "show results {a}-{b} of {np} sorted newest first",
              "next page ({p}) of the latest {np}, {k} at a time"]
PAGE_OLDEST_FORMS = ["{page} of the oldest {np}, {k} per page", "{np}, oldest first, page {p} ({k} per page)",
                     "results {a} to {b} of the earliest {np}", "{np} sorted oldest first, results {a}-{b}"]
PAGE_READING_FORMS = ["{page} of {np} in reading order, {k} per page", "{np} in passage order, results {a} to {b}",
                      "{np}, in the order they appear, {page} ({k} per page)",
                      "{page} of {np} sorted by passage number, {k} at a time",
                      "{np} in reading order, {page}, {k} a page"]
PAGE_WORDS = {2: ["the second page", "second page", "page two"], 3: ["the third page", "third page", "page three"],
              4: ["the fourth page", "fourth page", "page four"]}
COUNT_ALL_FORMS = ["how many {np} in total?", "total count of all {np}", "count every one of the {np}",
                   "how many {np} does the index hold?", "all {np}: how many?", "how many {np} altogether?",
                   "overall number of {np}", "how many {np} exist overall?"]
COAUTHOR_FORMS = ["who writes most often with {x}?", "most common co-authors of {x}", "top {k} collaborators of {x}",
                  "which authors appear most on papers with {x}?", "{x}'s most frequent collaborators",
                  "authors who publish with {x} the most", "the {k} people {x} co-writes with most",
                  "who co-occurs most with {x} on author lists?"]
COAREA_FORMS = ["which subject areas appear most alongside {x}?", "subject areas most often paired with {x}",
                "what other areas are {x} papers filed under?", "top {k} subject areas among {x} papers",
                "areas that papers in {x} are also listed in", "category names most common for {x} papers",
                "subject areas that co-occur with {x} most often", "areas co-occurring with {x}",
                "the {k} areas that most often go together with {x}",
                "which category names appear most alongside {x}?", "top {k} category names among {x} papers",
                "category names that co-occur with {x} most often"]
COCODE_FORMS = ["which categories appear most alongside {x}?", "categories most often paired with {x}",
                "what other categories do {x} papers carry?", "top {k} categories among {x} papers",
                "codes that {x} papers are cross-listed in", "categories co-occurring with {x}",
                "codes that co-occur with {x} most often"]
# field -> ways to say its groups (plural noun, singular noun) for group-by heads
GROUP_FIELDS = {"articles": {"author": [("first authors", "first author")], "authors": [("authors", "author")],
                             "categories": [("categories", "category")],
                             "category_names": [("subject areas", "subject area")] * 2 + [("category names",
                                                                                             "category name")]},
                "gutenberg": {"author": [("authors", "author")], "title.keyword": [("books", "book")]}}
# a breakdown that names no number lists every group (up to the gate's bucket limit): "passages per author" means
# all of them, where a ranking ("which authors have the most ...?") without a number shows the default 10
BREAKDOWN_FORMS = ["break down {np} by {one}", "{np} grouped by {one}", "count {np} per {one}", "{np} per {one}",
                   "{one} breakdown of {np}", "how are {np} distributed over {what}?", "number of {np} per {one}",
                   "how many {np} does each {one} have?", "how many {np} for each {one}?", "{np} for each {one}",
                   "how many {np} per {one}?"]         # round 17: "each author" is a breakdown, not one number
ALL_GROUPS = MAX_BUCKETS
GROUP_FORMS = ["top {k} {what} among {np}", "which {what} have the most {np}?", "most common {what} for {np}",
               "{np} per {one}, top {k}", "the {k} {what} with the most {np}", "which {one} has the most {np}?",
               "top {k} {what} by number of {np}"] + BREAKDOWN_FORMS
SINGLE_GROUP_FORMS = ["which {one} has the most {np}?", "which {one} wrote the most {np}?"]    # a single winner
HIST_FORMS = ["{np} per {unit}", "{adv} count of {np}", "how many {np} each {unit}?", "histogram of {np} by {unit}",
              "{np} over time, by {unit}", "number of {np} per {unit}", "{adv} numbers of {np}",
              "break {np} down by {unit}", "{np} by {unit}", "trend of {np} per {unit}", "counts of {np} per {unit}",
              "{np}: counts by {unit}", "{adv} totals of {np}", "{np}, {adv} counts"]
# who wrote the most, said as "prolific" (round 12); the group-by over an author field
PROLIFIC_FORMS = ["most prolific {what}", "which {what} are the most prolific?", "the {k} most prolific {what}",
                  "most prolific {what} of {np}", "which {one} wrote the most {np}?",
                  "the {k} most productive {what} among {np}"]
# a book list said with the date verb and no noun phrase (round 12): "what books were published in 1847?"
BOOKS_CAME_OUT_FORMS = ["what books were published {rest}?", "list the books that appeared {rest}",
                        "titles that came out {rest}", "titles published {rest}", "name the novels released {rest}"]
BOOK_LIST_FORMS = ["{np}", "which {np}?", "list the {np}", "what {np} are there?", "titles of the {np}"]


def unstated_groups(form):
    """The terms size of a group-by question that names no number: every group for a breakdown or a list of
    titles, one for "which book has the most ...?", else Elasticsearch's default 10."""
    if form in BREAKDOWN_FORMS + BOOKS_CAME_OUT_FORMS + BOOK_LIST_FORMS:
        return ALL_GROUPS
    return 1 if form in SINGLE_GROUP_FORMS else 10
# the largest passage number over all books
LONGEST_FORMS = ["highest passage number in the whole collection", "what is the largest passage number?",
                 "the longest book's last passage number", "max passage number over all books",
                 "passage count of the longest book", "the biggest passage number of any book",
                 "length of the longest book, in passages"]
CARD_FORMS = ["how many distinct {what} among {np}?", "number of different {what} of {np}",
              "count the unique {what} of {np}", "how many different {what} appear in {np}?",
              "distinct {what} count for {np}", "how many unique {what} are behind {np}?"]
MIN_FORMS = ["when was the earliest of the {np} published?", "earliest publication date among {np}",
             "first publication date of {np}", "oldest date for {np}", "what is the earliest date of {np}?",
             "when did {np} start?", "date of the earliest of the {np}",
             "in which year did the first of the {np} come out?", "the first year with any {np}"]
MAX_FORMS = ["most recent publication date among {np}", "when was the latest of the {np} published?",
             "latest date of {np}", "newest date for {np}", "what is the last publication date of {np}?",
             "when did the most recent of the {np} appear?", "date of the newest of the {np}",
             "latest publication year of {np}", "in which year did the newest of the {np} come out?"]
# a search said without its noun, around when things were published ("what came out last month in cs.CL?")
CAME_OUT_FORMS = ["what came out {rest}?", "what was published {rest}?", "anything that came out {rest}?",
                  "what appeared {rest}?", "what got published {rest}?", "show what came out {rest}"]
# "everything" and "anything" asking for all documents that fit, not for a search over every field (round 10)
EVERYTHING_FORMS = ["everything {rest}", "show me everything {rest}", "anything {rest}?", "give me everything {rest}",
                    "all the work {rest}", "whatever there is {rest}", "list everything {rest}"]
# the newest or oldest one said with a singular noun ("Hao Li's most recent paper"), and the sort said outright
SINGLE_NEWEST_SG = ["the most recent {sg}", "the newest {sg}", "what was the latest {sg}?", "the single most recent {sg}",
                    "which is the newest {sg}?", "the most recently published {sg}"]
# one author's newest or oldest document said with a possessive ("Hao Li's latest paper", round 11)
POSSESSIVE_NEWEST = ["which {one} did {a} publish last?", "{a}'s latest {one}", "{a}'s newest {one}",
                     "show me {a}'s most recent {one}", "the latest {one} of {a}"]
POSSESSIVE_OLDEST = ["what was {a}'s first {one}?", "{a}'s earliest {one}", "{a}'s oldest {one}",
                     "the first {one} {a} ever published"]
SINGLE_OLDEST_SG = ["the oldest {sg}", "the earliest {sg}", "what was the first {sg} ever published?",
                    "which is the oldest {sg}?"]
SORT_SAID = [" by publication date", " by date", ", sorted by publication date", " (by publication date)",
             " ordered by date"]
# a distinct count over the whole index, said as plainly as a count ("how many authors are there?")
# a distinct count of books said with the books as the noun (round 17): "how many books by Dickens are there?"
CARD_BOOK_FORMS = ["how many {np} are there?", "how many {np}?", "number of {np}", "count the {np}",
                   "how many {np} does the index have?", "how many {np} are in the collection?"]
CARD_ALL_FORMS = ["how many {what} are there?", "how many {what} does the index have?", "number of {what}",
                  "how many {what} in total?", "count the {what}"]
# a distinct count of the people who wrote something ("how many different authors wrote robotics papers?")
CARD_WROTE_FORMS = ["how many different {what} wrote {np}?", "count of distinct people who wrote {np}",
                    "how many distinct {what} have written {np}?", "count the different {what} behind {np}",
                    "how many people wrote {np}?"]
# a whole question around one text value said plainly (Clause.said): the search is over the index's text field
WHERE_FORMS = {"gutenberg": ["where is {x} mentioned?", "where does {x} appear?", "which passages mention {x}?",
                             "where do the books mention {x}?", "find mentions of {x}", "where is {x} in the books?",
                             "show me where {x} comes up"],
               "articles": ["which papers mention {x}?", "where is {x} discussed?", "papers on {x}?",
                            "find work on {x}", "what is there on {x}?"]}
# the same, for a phrase said first and then asked about ("Call me Ishmael - which passage is that?", round 11)
QUOTE_FORMS = ["{x} - which passage is that?", "{x} - where does that appear?", "{x}: show me the passage",
               "find the passage that says {x}", "which passage says {x}?", "{x} - find that passage"]
HIGHLIGHT_FORMS = ["{np}, highlighting the matches", "show where {np} match, with highlights",
                   "{np} with the matching {field} highlighted", "highlight matches in {np}",
                   "find {np} and highlight the {field}", "highlight the matching words in the {field}s of {np}",
                   "{np}, and mark the matches in the {field}", "{np}; highlight where the {field} matches"]
SOURCE_FORMS = ["just the {fields} of {np}", "{fields} only: {np}", "{np}, only show {fields}",
                "give me the {fields} of {np}", "list the {fields} for {np}"]


# words that name where to look, not what to look for: said now and then after a question, they add no filter, so
# the student learns that "in the whole index" or "in the library" is not a topic to search for
SCOPE_PHRASES = {"articles": ["in the index", "in the whole index", "in the articles index", "on arXiv", "overall",
                              "in the collection", "in the dataset", "in our data", "here", "in the database"],
                 "gutenberg": ["in the index", "in the whole index", "in the gutenberg index", "in the library",
                               "in the collection", "in the corpus", "here", "overall", "in the database",
                               "across all the books"]}
SCOPE_RATE = 0.12
# remarks around a request that ask for nothing (round 11): "(all of them)", "please", "if there are any"
ASIDES = ["please", "thanks", "(all of them)", "if there are any", "if you can", "for a report", "(just curious)",
          "whatever you find", "for my notes", "(the full list)", "quickly", "(any will do)"]
ASIDE_RATE = 0.06


def with_scope(rng, index, question):
    """`question`, or (SCOPE_RATE of the time) the same question with a scope phrase before its final "?", or
    (ASIDE_RATE) with a remark that asks for nothing; never when a content word of the phrase is already in the
    question (a copy must point at one place)."""
    r = rng.random()
    if r >= SCOPE_RATE + ASIDE_RATE:
        return question
    phrase = rng.choice(SCOPE_PHRASES[index] if r < SCOPE_RATE else ASIDES)
    said = {w.lower().strip("?,.!:;'\"") for w in question.split()}
    if said & ({w.strip("()") for w in phrase.lower().split()} - {"in", "the", "on", "our", "all", "across"}):
        return question
    if question.endswith("?"):
        return question[:-1].rstrip() + " " + phrase + "?"
    return question + " " + phrase


def search_body(query):
    return {"query": query}


def count_body(query):
    body = {"size": 0, "track_total_hits": True}
    if query is not None:
        body["query"] = query
    return body


def sorted_body(query, size, sort_field, order, start=0):
    body = {"size": size, "sort": [{sort_field: {"order": order}}]}
    if start:
        body["from"] = start
    if query is not None:
        body["query"] = query
    return body


def agg_body(query, name, spec):
    body = {"size": 0, "aggs": {name: spec}}
    if query is not None:
        body["query"] = query
    return body
