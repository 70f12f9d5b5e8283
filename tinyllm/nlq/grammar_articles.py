"""Filter clauses for the `articles` index, each drawn from one real paper so the conjunction matches it.

Every function takes (rng, doc, values) and returns a templates.Clause, or None when the paper offers nothing
suitable (e.g. no usable title word). Wording conventions, shared with the hand-written test set:
"by X" means the first author (`author`); "co-authored by X" / "with X among the authors" means `authors`.
"""
import datetime as dt

from . import dates
from .templates import Clause, either_terms, listing
from .values import hyphenated, searchable_phrases, words

PD = "publication_date"


def author(rng, doc, values):
    a = doc["author"]
    return Clause("author", {"term": {"author": a}}, "filter",
                  [f"by {a}", f"first-authored by {a}", f"whose first author is {a}", f"with {a} as first author",
                   f"written by {a}", f"from {a}", f"where {a} is the main author"],
                  pre=[f"{a}'s"], terse=[f"author {a}", f"author:{a}", a])


def coauthor(rng, doc, values):
    a = rng.choice(doc["authors"][1:] or doc["authors"])
    return Clause("coauthor", {"term": {"authors": a}}, "filter",
                  [f"co-authored by {a}", f"with {a} among the authors", f"involving {a}",
                   f"that list {a} as an author", f"with {a} on the author list", f"where {a} is a co-author"],
                  terse=[f"coauthor {a}", f"authors:{a}"])


def two_coauthors(rng, doc, values):
    if len(doc["authors"]) < 2:
        return None
    a, b = rng.sample(doc["authors"], 2)
    dsl = {"bool": {"filter": [{"term": {"authors": a}}, {"term": {"authors": b}}]}}
    return Clause("coauthor_pair", dsl, "filter",
                  [f"co-authored by both {a} and {b}", f"written together by {a} and {b}",
                   f"where {a} and {b} are both authors", f"with {a} and {b} on the author list"],
                  terse=[f"{a} + {b}", f"authors:{a} authors:{b}"])


def _pick(rng, options, values, field):
    """One of a paper's categories: half the time its rarest one, so rare areas are said about as often as common."""
    if rng.random() < 0.5:
        counts = dict(values.keywords.get(field, []))
        return min(options, key=lambda o: (counts.get(o, 0), o))
    return rng.choice(options)


def category(rng, doc, values):
    c = _pick(rng, doc["categories"], values, "categories")
    return Clause("category", {"term": {"categories": c}}, "filter",
                  [f"in {c}", f"tagged {c}", f"in the {c} category", f"listed under {c}", f"with category {c}"],
                  pre=[c], terse=[c, f"category {c}"])


def category_name(rng, doc, values):
    """A subject area by its full name, in lower case, or by the part before " and " of a long name ("Computer
    Vision" for "Computer Vision and Pattern Recognition"); the filter always holds the exact stored name."""
    n = _pick(rng, doc["category_names"], values, "category_names")
    said = n.split(" and ")[0] if len(n.split()) > 3 and " and " in n and rng.random() < 0.3 else n
    said = said.lower() if rng.random() < 0.4 else said
    return Clause("category_name", {"term": {"category_names": n}}, "filter",
                  [f"in {said}", f"in the {said} category", f"filed under {said}", f"from the {said} area",
                   f"categorised as {said}", f"also filed in {said}"],
                  pre=[said.lower(), said], terse=[said, f"category: {said}"])


def either_category(rng, doc, values):
    c = rng.choice(doc["categories"])
    others = [v for v in values.values("categories")[:25] if v != c]
    d = rng.choice(others)
    pair = sorted([c, d])
    return Clause("category_or", {"terms": {"categories": pair}}, "filter",
                  [f"in {pair[0]} or {pair[1]}", f"in either {pair[0]} or {pair[1]}",
                   f"tagged {pair[0]} or {pair[1]}"], terse=[f"{pair[0]} OR {pair[1]}"])


def category_by_name(rng, doc, values):
    """'robotics papers' -> the code cs.RO: the category's everyday name (lower case, subtitle dropped)."""
    if len(doc["categories"]) != len(doc["category_names"]):    # a code without a name: no pairing to trust
        return None
    c = _pick(rng, doc["categories"], values, "categories")
    n = doc["category_names"][doc["categories"].index(c)]
    short = n.lower().split(" and ")[0] if len(n.split()) > 3 else n.lower()
    return Clause("category_code", {"term": {"categories": c}}, "filter",
                  [f"on {short}", f"about {short}", f"in {short}", f"in the {short} field"],
                  pre=[short], terse=[short])


def two_category_names(rng, doc, values):
    """Two subject areas the paper is filed under: two filters, both required."""
    if len(doc["category_names"]) < 2:
        return None
    a, b = rng.sample(doc["category_names"], 2)
    first = Clause("category_name", {"term": {"category_names": a}}, "filter",
                   [f"in both {a} and {b}", f"filed under {a} and also {b}", f"in {a} as well as {b}",
                    f"that are in {a} and in {b}"], terse=[f"{a} + {b}"])
    return [first, Clause("category_name", {"term": {"category_names": b}}, "filter", [])]


def either_author(rng, doc, values):
    """Papers with one of two authors: `terms` on `authors`, values in the order the question names them."""
    a = rng.choice(doc["authors"])
    b = rng.choice([v for v in values.values("authors")[:200] if v != a])
    return either_terms(rng, "either_author", "authors", a, b,
                        ["co-authored by {x} or {y}", "with either {x} or {y} among the authors",
                         "involving {x} or {y}", "where {x} or {y} is an author"])


def either_title_word(rng, doc, values):
    """'X or Y in the title': two `should` matches, at least one required."""
    ws = sorted(set(words(doc["title"], min_len=5)))
    if len(ws) < 2:
        return None
    a, b = rng.sample(ws, 2)
    dsl = {"bool": {"should": [{"match": {"title": a}}, {"match": {"title": b}}], "minimum_should_match": 1}}
    return Clause("either_title_word", dsl, "should",
                  [f"with {a} or {b} in the title", f"whose title mentions either {a} or {b}",
                   f"titled with {a} or {b}", f"that have either '{a}' or '{b}' in the title"],
                  terse=[f"title:{a} OR title:{b}"], text_field="title")


def title_word(rng, doc, values):
    ws = words(doc["title"], min_len=5)
    if not ws:
        return None
    w = rng.choice(ws)
    return Clause("title_word", {"match": {"title": w}}, "must",
                  [f"with {w} in the title", f"whose title mentions {w}", f"titled with the word {w}",
                   f"with '{w}' in their titles", f"that have {w} in the title", f"mentioning {w} in its title",
                   f"mentioning {w} in the title", f"whose title has {w}", f"with a title mentioning {w}",
                   f"that mention {w} in their title", f"whose titles use the word {w}"],
                  pre=[w], terse=[f"title:{w}", f"{w} in title", f"titles mentioning {w}", f"titles with {w}",
                                  f"titles using the word {w}"],
                  text_field="title", said=w)


def title_words_and(rng, doc, values):
    ws = sorted(set(words(doc["title"], min_len=5)))
    if len(ws) < 2:
        return None
    a, b = rng.sample(ws, 2)
    return Clause("title_words_and", {"match": {"title": {"query": f"{a} {b}", "operator": "and"}}}, "must",
                  [f"whose titles contain both {a} and {b}", f"with {a} and {b} in the title",
                   f"with both '{a}' and '{b}' in the title", f"whose title mentions both {a} and {b}",
                   f"mentioning both {a} and {b} in the title", f"with titles mentioning both {a} and {b}"],
                  terse=[f"title:{a}+{b}", f"titles mentioning both {a} and {b}", f"titles with {a} and {b}"],
                  text_field="title")


def _phrase(rng, text, values, fields, n):
    """A searched-for phrase of `text`: a hyphenated compound a fifth of the time (one word to people, a phrase
    to the engine: "vision-language"), else an n-word run shaped like a search (values.searchable_phrases)."""
    compounds = hyphenated(text)
    if compounds and rng.random() < 0.2:
        return rng.choice(compounds)
    ps = searchable_phrases(rng, text, values, fields, n)
    return rng.choice(ps) if ps else None


def title_phrase(rng, doc, values):
    """A phrase of the title, quoted or said plainly ("state space papers", "with world model in the title"):
    always a match_phrase on exactly that span."""
    p = _phrase(rng, doc["title"], values, ("title", "abstract"), rng.choice([2, 2, 3]))
    if p is None:
        return None
    return Clause("title_phrase", {"match_phrase": {"title": p}}, "must",
                  [f'with the phrase "{p}" in the title', f'whose title contains "{p}"', f'titled "...{p}..."',
                   f'with "{p}" in the title', f"with {p} in the title", f"whose title mentions {p}",
                   f"mentioning {p} in the title", f"with {p} in its title", f"whose title says {p}",
                   f"with the phrase {p} in the title", f"with {p} in the title (as an exact phrase)"],
                  pre=[p], terse=[f'title:"{p}"', f"{p} in title", p], text_field="title", said=p)


def abstract_word(rng, doc, values):
    ws = words(doc["abstract"], min_len=6)
    if not ws:
        return None
    w = rng.choice(ws)
    return Clause("abstract_word", {"match": {"abstract": w}}, "must",
                  [f"about {w}", f"mentioning {w}", f"that discuss {w}", f"whose abstract mentions {w}",
                   f"with {w} in the abstract", f"that talk about {w}", f"dealing with {w}",
                   f"that mention {w} in the abstract", f"with an abstract mentioning {w}",
                   f"mentioning {w} in the abstract"],
                  terse=[w, f"abstract:{w}"], text_field="abstract", said=w)


def abstract_words_and(rng, doc, values):
    """Two or three abstract words that must all appear: one `match` with `operator: and`, words in text order."""
    ws = list(dict.fromkeys(words(doc["abstract"], min_len=6)))
    k = rng.choice([2, 3, 3])
    if len(ws) < k:
        return None
    picked = sorted(rng.sample(range(len(ws)), k))
    chosen = [ws[i] for i in picked]
    said = listing(chosen)
    return Clause("abstract_words_and", {"match": {"abstract": {"query": " ".join(chosen), "operator": "and"}}},
                  "must", [f"whose abstract has all of {said}", f"with {said} all in the abstract",
                           f"whose abstracts mention every one of {said}", f"with an abstract using {said}",
                           f"where the abstract contains each of {said}"],
                  terse=[f"abstract:{'+'.join(chosen)}", " AND ".join(chosen)], text_field="abstract")


def abstract_phrase(rng, doc, values):
    """A phrase of the abstract, quoted or said plainly ("papers on knowledge distillation"): a match_phrase."""
    p = _phrase(rng, doc["abstract"], values, ("title", "abstract"), rng.choice([2, 2, 3]))
    if p is None:
        return None
    return Clause("abstract_phrase", {"match_phrase": {"abstract": p}}, "must",
                  [f'about "{p}"', f'that mention "{p}" in the abstract', f'whose abstract has the phrase "{p}"',
                   f'discussing "{p}"', f"whose abstract has the exact phrase {p}", f"on {p}", f"mentioning {p}",
                   f"that discuss {p}", f"whose abstract mentions {p}", f"with {p} in the abstract",
                   f"that mention {p} in the abstract", f"dealing with {p}",
                   f"on {p}, as an exact phrase in the abstract",
                   f"that use the exact phrase {p}", f"mentioning {p} word for word"],
                  terse=[f'"{p}"', f"abstract: {p}"], text_field="abstract", said=p)


def _nice(day):
    return f"{dates.MONTHS[day.month - 1]} {day.day}, {day.year}"


def date_absolute(rng, doc, values):
    day = dt.date.fromisoformat(doc[PD])
    pick = rng.choice(["day", "month", "month", "year", "after", "before", "between"])
    if pick == "day":
        return Clause("date_day", {"term": {PD: doc[PD]}}, "filter",
                      [f"published on {doc[PD]}", f"from {_nice(day)}", f"listed on {_nice(day)}"], terse=[doc[PD]])
    if pick == "month":
        start = day.replace(day=1)
        end = (start + dt.timedelta(days=32)).replace(day=1)
        m = f"{dates.MONTHS[day.month - 1]} {day.year}"
        return Clause("date_month", {"range": {PD: {"gte": start.isoformat(), "lt": end.isoformat()}}}, "filter",
                      [f"from {m}", f"published in {m}", f"in {m}", f"in {day:%Y-%m}"], terse=[m, f"{day:%Y-%m}"])
    if pick == "year":
        y = day.year
        return Clause("date_year", {"range": {PD: {"gte": f"{y}-01-01", "lt": f"{y + 1}-01-01"}}}, "filter",
                      [f"from {y}", f"published in {y}", f"in {y}"], terse=[str(y)])
    if pick == "after":
        cut = day - dt.timedelta(days=rng.randint(1, 120))
        return Clause("date_after", {"range": {PD: {"gt": cut.isoformat()}}}, "filter",
                      [f"published after {_nice(cut)}", f"after {cut.isoformat()}", f"newer than {cut.isoformat()}"],
                      terse=[f"after {cut.isoformat()}"])
    if pick == "before":
        cut = day + dt.timedelta(days=rng.randint(1, 120))
        return Clause("date_before", {"range": {PD: {"lt": cut.isoformat()}}}, "filter",
                      [f"published before {_nice(cut)}", f"before {cut.isoformat()}", f"older than {cut.isoformat()}"],
                      terse=[f"before {cut.isoformat()}"])
    lo = day - dt.timedelta(days=rng.randint(0, 20))
    hi = day + dt.timedelta(days=rng.randint(0, 20))
    return Clause("date_between", {"range": {PD: {"gte": lo.isoformat(), "lte": hi.isoformat()}}}, "filter",
                  [f"published between {_nice(lo)} and {_nice(hi)}", f"from {lo.isoformat()} to {hi.isoformat()}",
                   f"between {lo.isoformat()} and {hi.isoformat()} inclusive"], terse=[f"{lo.isoformat()}..{hi.isoformat()}"])


def rolling_phrase(rng, doc):
    """'past 45 days', 'last 9 weeks', 'past 14 months': a rolling window of any length that reaches back to
    this paper, so the number is copied from the question rather than memorised from a few phrases."""
    age = (dt.date.fromisoformat(dates.DATA_NOW) - dt.date.fromisoformat(doc[PD])).days
    unit, days = rng.choice([("day", 1), ("week", 7), ("month", 31)])
    n = max(2, -(-age // days) + rng.randint(0, 10))
    return f"{rng.choice(['past', 'last'])} {n} {unit}s"


def date_relative(rng, doc, values):
    """A relative phrase (dates.PHRASES, or a rolling window of any length) whose window, under the frozen clock,
    contains this paper's date."""
    fitting = [p for p in dates.PHRASES if dates.contains(dates.compile_phrase(p), doc[PD], dates.DATA_NOW)]
    if rng.random() < 0.25:
        fitting = [rolling_phrase(rng, doc)]
    if not fitting or not dates.contains(dates.compile_phrase(fitting[0]), doc[PD], dates.DATA_NOW):
        return None
    p = rng.choice(fitting)
    window = dates.compile_phrase(p)
    return Clause("date_relative", window.range_clause(PD), "filter", relative_wordings(p), terse=[p],
                  extra={"now": dates.DATA_NOW})


def relative_wordings(p):
    """How people attach a date phrase to a noun: 'from last month', 'published in the past 30 days', ..."""
    if dates.parse_phrase(p)[0] == "past":
        core = p.removeprefix("in the ").removeprefix("the ")
        return [f"from the {core}", f"published in the {core}", f"in the {core}", f"over the {core}",
                f"within the {core}", f"during the {core}", f"posted in the {core}", core]
    return [f"from {p}", f"published {p}", f"that appeared {p}", f"posted {p}", f"released {p}", p]


def _not_in(rng, doc, values, field, kind, wordings):
    """A must_not term on `field` with one of the first 30 of its known values that the document lacks; the
    wordings name that value as {c}."""
    options = [c for c in values.values(field)[:30] if c not in doc[field]]
    if not options:
        return None
    c = rng.choice(options)
    return Clause(kind, {"term": {field: c}}, "must_not", [w.format(c=c) for w in wordings],
                  terse=[f"-{c}", f"NOT {c}"])


def not_category(rng, doc, values):
    return _not_in(rng, doc, values, "categories", "not_category",
                   ["not in {c}", "excluding {c}", "but not tagged {c}", "outside {c}"])


def not_category_name(rng, doc, values):
    return _not_in(rng, doc, values, "category_names", "not_category_name",
                   ["not in {c}", "that are not cross-listed in {c}", "excluding {c}", "that are not filed under {c}",
                    "outside {c}", "without {c} among their areas"])


def not_author(rng, doc, values):
    options = [a for a in values.values("authors")[:60] if a not in doc["authors"]]
    if not options:
        return None
    a = rng.choice(options)
    return Clause("not_coauthor", {"term": {"authors": a}}, "must_not",
                  [f"without {a} as an author", f"excluding papers involving {a}", f"not co-authored by {a}"],
                  terse=[f"-{a}"])


def not_title_word(rng, doc, values):
    present = set(words(doc["title"]))
    options = [w for w in ("survey", "benchmark", "dataset", "diffusion", "reasoning", "agents", "video", "graph",
                           "medical", "robust", "efficient", "multimodal") if w not in present]
    w = rng.choice(options)
    return Clause("not_title_word", {"match": {"title": w}}, "must_not",
                  [f"without {w} in the title", f"whose title does not mention {w}", f"excluding titles with {w}"],
                  terse=[f"-title:{w}"])


POSITIVE = [(author, 3), (coauthor, 3), (two_coauthors, 1), (category, 3), (category_name, 3), (either_category, 1),
            (title_word, 3), (title_words_and, 1), (title_phrase, 2), (abstract_word, 2), (abstract_words_and, 1),
            (abstract_phrase, 2),
            (date_absolute, 3), (date_relative, 3), (category_by_name, 4), (two_category_names, 1),
            (either_author, 1), (either_title_word, 1)]
NEGATIVE = [(not_category, 2), (not_category_name, 1), (not_author, 1), (not_title_word, 1)]
TEXT = [title_word, title_words_and, title_phrase, abstract_word, abstract_words_and, abstract_phrase]
