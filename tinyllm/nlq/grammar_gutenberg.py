"""Filter clauses for the `gutenberg` index, each drawn from one real passage so the conjunction matches it.

Same contract as grammar_articles: (rng, doc, values) -> templates.Clause or None. Book titles are named in full
(`title.keyword` term, or the book's `book_id`) or by a shorter form ("Moby-Dick" for "Moby-Dick; or, The Whale",
"Phantom of the Opera"), which compiles to the `book_id`, since a keyword term needs the exact stored title.
Authors are named in full or by surname; a surname several authors share ("Brontë") means all of them.
"""
import datetime as dt

from . import dates
from .grammar_articles import relative_wordings
from .templates import Clause, either_terms, number, say, sorted_body
from .values import name_phrases, names, searchable_phrases, words

PD = "publication_date"
ORDINALS = {16: "sixteenth", 17: "seventeenth", 18: "eighteenth", 19: "nineteenth", 20: "twentieth"}


def short_title(title):
    """'Moby-Dick; or, The Whale' -> 'Moby-Dick'; 'Jane Eyre: An Autobiography' -> 'Jane Eyre'."""
    for sep in (";", ":", ","):
        if sep in title:
            return title.split(sep)[0].strip()
    return title


def surnames(values):
    """{surname: sorted authors}: how people name gutenberg authors ("Dickens", "the Brontës")."""
    out = {}
    for a in values.values("author"):
        out.setdefault(a.split()[-1], []).append(a)
    return {k: sorted(v) for k, v in out.items()}


def author(rng, doc, values):
    """The author by full name, or a third of the time by surname alone: a unique surname is a `term` on the
    full stored name; a surname several authors share is a `terms` on all of them (in name order)."""
    a = doc["author"]
    if rng.random() < 0.35:
        s = a.split()[-1]
        group = surnames(values)[s]
        if len(group) > 1:
            return Clause("authors_surname", {"terms": {"author": group}}, "filter",
                          [f"by the {s}s", f"by any {s}", f"written by a {s}", f"from the {s} books"],
                          pre=[s], terse=[f"{s}s"])
        return Clause("author_surname", {"term": {"author": a}}, "filter",
                      [f"by {s}", f"from {s}", f"written by {s}", f"from {s}'s books", f"in {s}'s works"],
                      pre=[s, f"{s}'s"], terse=[s, f"{s} books"])
    return Clause("author", {"term": {"author": a}}, "filter",
                  [f"by {a}", f"from {a}", f"written by {a}", f"from {a}'s books", f"in the works of {a}"],
                  pre=[a, f"{a}'s"], terse=[a, f"author:{a}", f"{a} books"])


def book_names(t):
    """The ways people name a stored title: in full, its short form, without a leading article."""
    out = [t, short_title(t)]
    for art in ("The ", "A ", "An "):
        if out[-1].startswith(art) and len(out[-1].split()) > 2:
            out.append(out[-1][len(art):])
    return list(dict.fromkeys(out))


def title(rng, doc, values):
    """A book by name. The exact stored title may be a `title.keyword` term; any other name (short form, no
    leading article), and half of the full titles, become the book's `book_id`, the one number that names it."""
    t = doc["title"]
    name = rng.choice(book_names(t))
    if name != t or rng.random() < 0.5:
        return Clause("book_short", {"term": {"book_id": doc["book_id"]}}, "filter",
                      [f"from {name}", f"in {name}", f"of {name}", f"from the book {name}"], pre=[name],
                      terse=[name])
    return Clause("title", {"term": {"title.keyword": t}}, "filter",
                  [f"from {t}", f"in {t}", f"of {t}", f"from the book {t}", f'from "{t}"'], pre=[t],
                  terse=[t, f"title:{t}"])


def title_word(rng, doc, values):
    """A word of the book's title ("books whose title mentions adventures"): a `match` on the analysed title, so
    every book with that word is found, not one book by name."""
    ws = words(doc["title"], min_len=5)
    if not ws:
        return None
    w = rng.choice(ws)
    return Clause("title_word", {"match": {"title": w}}, "must",
                  [f"from books whose title mentions {w}", f"from books with {w} in the title",
                   f"of books titled with the word {w}", f"from any book with '{w}' in its title",
                   f"whose book title contains the word {w}"],
                  terse=[f"title:{w}", f"{w} in title", f"titles with {w}"], text_field="title", said=w)


def book_id(rng, doc, values):
    b = doc["book_id"]
    return Clause("book_id", {"term": {"book_id": b}}, "filter",
                  [f"from book {b}", f"of gutenberg book #{b}", f"in book id {b}", f"from ebook {b}"],
                  terse=[f"book {b}", f"book_id:{b}"])


def content_word(rng, doc, values):
    """One word of the passage: a character's name when it has one (said capitalised, "Heathcliff passages"),
    else a long content word."""
    pool = names(doc["content"]) or words(doc["content"], min_len=6)
    if not pool:
        return None
    w = rng.choice(pool)
    said = w.capitalize() if w in names(doc["content"]) else w
    return Clause("content_word", {"match": {"content": w}}, "must",
                  [f"mentioning {said}", f"about {said}", f"that mention {said}", f"where {said} appears",
                   f"containing the word {said}", f"that talk about {said}", f"where {said} is mentioned"],
                  pre=[said] if said != w else [], terse=[said], text_field="content", said=said)


def content_words_and(rng, doc, values):
    pool = sorted(set(words(doc["content"], min_len=6)))
    if len(pool) < 2:
        return None
    a, b = rng.sample(pool, 2)
    return Clause("content_words_and", {"match": {"content": {"query": f"{a} {b}", "operator": "and"}}}, "must",
                  [f"mentioning both {a} and {b}", f"that contain {a} and {b}", f"with both '{a}' and '{b}'"],
                  terse=[f"{a} AND {b}"], text_field="content")


def content_phrase(rng, doc, values):
    """A phrase of the passage, quoted or said plainly: a multi-word name a third of the time ("Captain Hook
    passages", "where is Miss Havisham mentioned"), else a run shaped like a search ("pieces of eight")."""
    people = name_phrases(doc["content"])
    if people and rng.random() < 0.35:
        said = rng.choice(people)
    else:
        ps = searchable_phrases(rng, doc["content"], values, ("content",), rng.choice([2, 2, 3]))
        if not ps:
            return None
        said = rng.choice(ps)
    p = said.lower()
    return Clause("content_phrase", {"match_phrase": {"content": p}}, "must",
                  [f'with the phrase "{said}"', f'containing "{said}"', f'where the text says "{said}"',
                   f"with {said} (exact wording)", f"containing exactly {said}",
                   f'that include the words "{said}"', f'quoting "{said}"', f"with the exact words {said}",
                   f"that say {said}", f"that contain the words {said} in that order", f"mentioning {said}",
                   f"that mention {said}", f"where {said} is mentioned", f"where {said} appears", f"about {said}",
                   f"with {said} in them"] + ([] if said != p else [f"mentioning the {p}", f"about the {p}",
                                                                    f"where the {p} is mentioned"]),
                  pre=[said], terse=[f'"{said}"', said], text_field="content", said=said)


def date_absolute(rng, doc, values):
    y = int(doc[PD][:4])
    pick = rng.choice(["year", "decade", "century", "before", "after"])
    if pick == "year":
        return Clause("pub_year", {"range": {PD: {"gte": f"{y:04d}-01-01", "lt": f"{y + 1:04d}-01-01"}}}, "filter",
                      [f"published in {y}", f"from books first published in {y}", f"from {y}"], terse=[str(y)])
    if pick == "decade":
        d = y - y % 10
        return Clause("pub_decade", {"range": {PD: {"gte": f"{d:04d}-01-01", "lt": f"{d + 10:04d}-01-01"}}}, "filter",
                      [f"from the {d}s", f"published in the {d}s", f"from works of the {d}s"], terse=[f"{d}s"])
    if pick == "century" and rng.random() < 0.5:      # "the nineteenth century": 1801-1900, as historians count
        n = (y - 1) // 100 + 1
        if n not in ORDINALS:
            return None
        lo, hi = f"{(n - 1) * 100 + 1:04d}-01-01", f"{n * 100 + 1:04d}-01-01"
        word, th = ORDINALS[n], f"{n}th"
        return Clause("pub_century", {"range": {PD: {"gte": lo, "lt": hi}}}, "filter",
                      [f"from the {word} century", f"written in the {th} century", f"of the {word} century"],
                      pre=[f"{word}-century", f"{th}-century"], terse=[f"{th} century"])
    if pick == "century":
        c = y - y % 100
        return Clause("pub_century", {"range": {PD: {"gte": f"{c:04d}-01-01", "lt": f"{c + 100:04d}-01-01"}}}, "filter",
                      [f"from the {c}s", f"published in the {c}s", f"from books of the {c}s"], terse=[f"{c}s"])
    if pick == "before":
        cut = y + rng.randint(1, 60)
        return Clause("pub_before", {"range": {PD: {"lt": f"{cut:04d}-01-01"}}}, "filter",
                      [f"published before {cut}", f"from books older than {cut}", f"written before {cut}"],
                      terse=[f"before {cut}"])
    cut = y - rng.randint(1, 60)
    return Clause("pub_after", {"range": {PD: {"gt": f"{cut:04d}-12-31"}}}, "filter",
                  [f"published after {cut}", f"from books newer than {cut}", f"written after {cut}"],
                  terse=[f"after {cut}"])


def date_relative(rng, doc, values):
    """'published in the last 150 years' under the frozen clock (dates.DATA_NOW)."""
    now = dt.date.fromisoformat(dates.DATA_NOW)
    age = now.year - int(doc[PD][:4])
    n = age + rng.randint(1, 40)
    if rng.random() < 0.7:      # people say round numbers: "the last 150 years"
        n = -(-n // 10) * 10
    phrase = f"past {n} years"
    window = dates.compile_phrase(phrase)
    if not dates.contains(window, doc[PD], now):
        return None
    books = [f"from books published in the {phrase}", f"that come from books published in the {phrase}"]
    return Clause("date_relative", window.range_clause(PD), "filter", relative_wordings(phrase) + books,
                  terse=[f"last {n} years"], extra={"now": dates.DATA_NOW})


def either_author(rng, doc, values):
    """Passages by one of two authors: `terms` on `author`, values in the order the question names them."""
    a = doc["author"]
    b = rng.choice([v for v in values.values("author") if v != a])
    return either_terms(rng, "either_author", "author", a, b,
                        ["by {x} or {y}", "by either {x} or {y}", "written by {x} or {y}", "from {x} or {y}"])


def either_word(rng, doc, values):
    """'mentioning X or Y': two `should` matches on the content, at least one required."""
    pool = sorted(set(names(doc["content"]) + words(doc["content"], min_len=6)))
    if len(pool) < 2:
        return None
    a, b = rng.sample(pool, 2)
    dsl = {"bool": {"should": [{"match": {"content": a}}, {"match": {"content": b}}], "minimum_should_match": 1}}
    return Clause("either_word", dsl, "should",
                  [f"mentioning {a} or {b}", f"that mention either {a} or {b}", f"where {a} or {b} appears",
                   f"containing {a} or {b}"], terse=[f"{a} OR {b}"], text_field="content")


def not_author(rng, doc, values):
    a = rng.choice([v for v in values.values("author") if v != doc["author"]])
    return Clause("not_author", {"term": {"author": a}}, "must_not",
                  [f"not by {a}", f"excluding {a}", f"except {a}'s", f"other than {a}'s"], terse=[f"-{a}"])


def not_book(rng, doc, values):
    """Excluding one book: by its exact title (`title.keyword`) or, named any other way, by its `book_id`."""
    books = values.extra["books"]
    b = rng.choice([k for k in sorted(books) if k != doc["book_id"]])
    t = books[b]["title"]
    name = rng.choice(book_names(t))
    dsl = {"term": {"title.keyword": t}} if name == t and rng.random() < 0.5 else {"term": {"book_id": b}}
    return Clause("not_book", dsl, "must_not",
                  [f"not from {name}", f"outside {name}", f"excluding {name}", f"but not in {name}"],
                  terse=[f"-{name}"])


def not_word(rng, doc, values):
    present = set(words(doc["content"], min_len=3))
    options = [w for w in ("love", "death", "money", "church", "king", "sea", "war", "night", "letter", "god",
                           "father", "mother", "house", "horse") if w not in present]
    if not options:
        return None
    w = rng.choice(options)
    return Clause("not_word", {"match": {"content": w}}, "must_not",
                  [f"that do not mention {w}", f"without the word {w}", f"not mentioning {w}"], terse=[f"-{w}"])


POSITIVE = [(author, 3), (title, 3), (book_id, 1), (content_word, 3), (content_words_and, 1), (content_phrase, 3),
            (date_absolute, 2), (date_relative, 1), (either_author, 1), (either_word, 1), (title_word, 0.7)]
NEGATIVE = [(not_author, 1), (not_book, 1), (not_word, 1)]
TEXT = [content_word, content_words_and, content_phrase]
BOOK = [title, book_id]


def passage_range(rng, doc, v):
    """Passages of one book by number (one, a range, the first k, from or after n, its end, its start in order, the
    first passage of every book by its author) -> (question, body, compare, the book's clause)."""
    book = title(rng, doc, v)
    name = book.pre[0]
    last = v.extra["books"][doc["book_id"]]["last"]
    p = doc["passage"]
    pick = rng.choice(["one", "range", "first", "from", "ordered", "after", "last", "first_ordered",
                       "author_first"])
    slots = {"b": name, "p": p}
    if pick == "one":
        rq, forms = {"term": {"passage": p}}, ["passage {p} of {b}", "{b}, passage {p}", "show passage {p} in {b}"]
    elif pick == "range":
        slots["a"], slots["z"] = max(1, p - rng.randint(0, 5)), min(last, p + rng.randint(1, 8))
        rq = {"range": {"passage": {"gte": slots["a"], "lte": slots["z"]}}}
        forms = ["passages {a} to {z} of {b}", "{b} passages {a}-{z}", "give me {b}, passages {a} through {z}",
                 "passages {a}-{z} of {b}", "{b}, passages {a} to {z}"]
        if rng.random() < 0.3:       # the range in reading order: sorted, and as many results as it holds
            q = say(rng, ["{b}, passages {a}-{z}, in order", "{b} passages {a} to {z}, in order",
                          "read passages {a} through {z} of {b} in order"], **slots)
            query = {"bool": {"filter": [book.dsl, rq]}}
            return q, sorted_body(query, slots["z"] - slots["a"] + 1, "passage", "asc"), "topk", book
    elif pick == "first":
        slots["k"] = rng.randint(1, 10)
        rq = {"range": {"passage": {"lte": slots["k"]}}}
        forms = ["the first {k} passages of {b}", "opening {k} passages of {b}", "{b}: first {k} passages"]
    elif pick == "from":
        rq = {"range": {"passage": {"gte": p}}}
        forms = ["{b} from passage {p} on", "passages of {b} starting at passage {p}",
                 "everything in {b} from passage {p} onwards"]
    elif pick == "after":
        rq = {"range": {"passage": {"gt": p}}}
        forms = ["passages of {b} after passage {p}", "{b} beyond passage {p}",
                 "everything in {b} past passage {p}"]
    elif pick == "author_first":     # the opening passage of every book by an author
        a = doc["author"]
        q = say(rng, ["the first passage of each book by {a}", "opening passages of {a}'s books",
                      "passage 1 of every book by {a}", "how do {a}'s books begin?",
                      "the opening passage of each of {a}'s books", "first passage of every book {a} wrote"], a=a)
        body = {"query": {"bool": {"filter": [{"term": {"author": a}}, {"term": {"passage": 1}}]}}}
        return q, body, "set", book
    elif pick in ("last", "first_ordered"):   # the end or the start of a book, in passage order
        k = rng.randint(1, 5)
        if pick == "last":
            q = say(rng, ["the last {k} passages of {b}", "final {k} passages of {b}", "how does {b} end? "
                          "last {k} passages", "{b}: closing {k} passages", "last {k} passages of {b}",
                          "{b}, last {k} passages", "last {k} passages in {b}"], b=name, k=number(rng, k))
            body = sorted_body(book.dsl, k, "passage", "desc")
        else:
            q = say(rng, ["the first {k} passages of {b}, in order", "opening {k} passages of {b} in "
                          "reading order", "{b} from the start, {k} passages"], b=name, k=number(rng, k))
            query = {"bool": {"filter": [book.dsl, {"range": {"passage": {"lte": k}}}]}}
            body = sorted_body(query, k, "passage", "asc")
        return q, body, "topk", book
    else:   # reading order: sorted by passage number, so compared as top-k
        slots["k"] = rng.randint(2, 10)
        query = {"bool": {"filter": [book.dsl, {"range": {"passage": {"gte": p}}}]}}
        q = say(rng, ["{k} passages of {b} in reading order starting at passage {p}",
                      "read {b} from passage {p}, {k} passages"], **slots)
        return q, sorted_body(query, slots["k"], "passage", "asc"), "topk", book
    q = say(rng, forms, **slots)
    return q, {"query": {"bool": {"filter": [book.dsl, rq]}}}, "set", book
