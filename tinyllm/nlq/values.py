"""Actual values of each index, read from the connected engine, that the template teacher grounds its questions in.

Questions name real authors, categories, titles, words and dates because a term on a value the index lacks
silently returns nothing (NLQ.md, value grounding). We read keyword values with aggregations and sample whole
documents (deterministically, by seed) so a generated filter can be drawn from one real document and is
therefore guaranteed to match at least that document.
"""
import random
import re
from dataclasses import dataclass, field

ARTICLE_PAGES = 12       # sampled pages of 100 articles
RECENT_ARTICLES = 300    # the newest articles, added to the sample
MONTHLY_ARTICLES = 25    # articles from a random offset within every month of the data, added to the sample
PASSAGES_SAMPLED = 600   # sampled gutenberg passages

# Words too common or too vague to make a useful "about X" question.
STOPWORDS = frozenset("""a an and are as at be been but by can do does for from has have he her his how i if in into is
it its me more my no not of on or our she so such than that the their them then there these they this those to
towards under up upon us via was we were what when where which while who whom why will with without would you your
all any also one two new using based toward through via vs versus very much many most some other over only own same
should could said did had him mr mrs miss sir""".split())


@dataclass
class IndexValues:
    """Values of one index: keyword value lists (most frequent first) and a sample of real documents."""
    index: str
    keywords: dict = field(default_factory=dict)   # field -> [(value, doc_count), ...]
    docs: list = field(default_factory=list)       # sampled _source dicts
    extra: dict = field(default_factory=dict)      # index-specific facts (e.g. book_id -> last passage)

    def values(self, field_name):
        return [v for v, _ in self.keywords.get(field_name, [])]


def _terms(backend, index, field_name, size, query=None):
    body = {"size": 0, "aggs": {"v": {"terms": {"field": field_name, "size": size}}}}
    if query is not None:
        body["query"] = query
    buckets = backend.search(index, body)["aggregations"]["v"]["buckets"]
    return [(b["key"], b["doc_count"]) for b in buckets]


ASCII_WORD = r"(?<![\w-])[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*"   # not a piece of a longer (non-ASCII) word


def words(text, min_len=4):
    """Lower-case content words of `text` (letters, digits, inner hyphens), stopwords removed, order kept. A word
    with a non-ASCII letter is skipped whole: "Misérables" is not the word "rables"."""
    toks = re.findall(ASCII_WORD + r"(?!\w)", text)
    return [t.lower() for t in toks if len(t) >= min_len and t.lower() not in STOPWORDS]


# Words that cannot begin or end a searched-for phrase: function words, common verbs and sentence adverbs.
# People search noun phrases ("pieces of eight", "state space", "white whale"), never "images whose" or "analyze
# both"; a connector ("of", "the") may only sit inside a phrase ("pieces of eight").
EDGE_STOP = STOPWORDS | frozenset("""whose both being each every either neither just even well yet still thus hence
however further here let may might must shall cannot among across after before about above below between against
during within around since until because whether etc make makes made take takes took use uses show shows shown
showed propose proposes proposed present presents introduce introduces achieve achieves enable enables allow
allows provide provides analyze analyse thank thanks like get gets got go goes went gone come comes came see sees
saw seen say says know knew known think thought tell told ask asked look looked seem seems seemed want wanted give
gave given put never ever now again once out off down yes oh nor first last next another others whom himself
herself itself themselves myself yourself ours yours hers theirs something anything nothing everything someone
anyone nobody everyone thing things way ways also often always sometimes usually rather quite really perhaps
while whilst though although unless whereas yet let lets lose lost keep kept find found tried try tries done
doing does become became becomes remain remains existing including include includes included towards toward
back away again too here there where""".split())
CONNECTORS = frozenset("of and the a an in on to for with at from by or".split())   # may join a phrase's words
HONORIFICS = frozenset("captain miss mrs mr sir lady lord uncle aunt colonel doctor professor madame madam "
                       "father mother king queen prince princess count dr".split())


def _edge_ok(word, right):
    """True when `word` may stand at the left (right=False) or right end of a searched-for phrase."""
    w = word.lower()
    if w in EDGE_STOP or len(w) < 3:
        return False
    if w.endswith("ly") and len(w) > 4:        # adverbs ("highly detailed", "passing away too")
        return False
    return not (right and w.endswith("ed") and "-" not in w)   # "walls fell", "model trained": verbs end them


def phrases(text, n=2):
    """Runs of n adjacent words with no punctuation between them, shaped like what people search for: neither end
    a stop word, common verb or adverb ("state space", "pieces of eight"); lower case (match_phrase ignores case)."""
    toks = re.findall(ASCII_WORD + r"(?![\w-])|[^\sA-Za-z]", text)
    out = []
    for i in range(len(toks) - n + 1):
        run = toks[i:i + n]
        if all(re.match(r"[A-Za-z]", t) and len(t) >= 2 for t in run) and _edge_ok(run[0], False) \
                and _edge_ok(run[-1], True) and all(t.lower() in CONNECTORS or _edge_ok(t, False) for t in run[1:-1]):
            out.append(" ".join(t.lower() for t in run))
    return out


def hyphenated(text):
    """Hyphenated compounds ("vision-language", "chain-of-thought"): one word to the reader, a phrase to the
    engine (the analyser splits it), lower-cased."""
    found = re.findall(r"\b[A-Za-z][A-Za-z0-9]+(?:-[A-Za-z0-9]+)+\b", text)
    return list(dict.fromkeys(w.lower() for w in found if len(w) >= 7))


def name_phrases(text):
    """Multi-word names inside sentences ("Captain Hook", "Miss Havisham", "Van Helsing"), in their own case:
    2-3 capitalised words not at a sentence start, the first may be an honorific."""
    found = re.findall(r"(?<=[a-z,;] )((?:[A-Z][a-z]+ ){1,2}[A-Z][a-z]{2,})(?![A-Za-z])", text)
    out = []
    for run in found:
        ws = run.split()
        if any(w.lower() in STOPWORDS - HONORIFICS for w in ws) or ws[-1].lower() in HONORIFICS | STOPWORDS:
            continue
        if run not in out:
            out.append(run)
    return out


def common_phrases(values, fields, n=2, min_docs=3):
    """{phrase: number of sampled documents using it} for n-word phrases in `fields` used by >= min_docs
    documents: recurring phrases are terms ("language models", "reinforcement learning"), cached in values.extra."""
    key = ("common_phrases", tuple(fields), n, min_docs)
    if key not in values.extra:
        df = {}
        for d in values.docs:
            for p in set(p for f in fields for p in phrases(d[f], n)):
                df[p] = df.get(p, 0) + 1
        values.extra[key] = {p: c for p, c in df.items() if c >= min_docs}
    return values.extra[key]


def searchable_phrases(rng, text, values, fields, n):
    """Phrase candidates of `text` as people search them: two thirds of the time only those that recur across
    the sampled documents (terms), else any edge-clean run; [] when the text has none."""
    ps = phrases(text, n)
    if rng.random() < 0.67:
        common = common_phrases(values, fields, n)
        ps = [p for p in ps if p in common] or ps
    return ps


def names(text):
    """Capitalised words inside sentences (character names such as 'Heathcliff'), lower-cased, deduplicated."""
    found = re.findall(r"(?<=[a-z,;] )([A-Z][a-z]{3,})", text)
    seen = []
    for w in found:
        if w.lower() not in STOPWORDS and w.lower() not in seen:
            seen.append(w.lower())
    return seen


def _sample_articles(backend, rng, total):
    docs = []
    starts = range(0, max(1, min(total, 10000) - 100))   # from + size stays within max_result_window
    offsets = sorted(rng.sample(starts, min(ARTICLE_PAGES, len(starts))))
    for off in offsets:
        body = {"from": off, "size": 100, "sort": [{"arxiv_id": {"order": "asc"}}]}
        docs += [h["_source"] for h in backend.search("articles", body)["hits"]["hits"]]
    return docs


def _sample_months(backend, rng):
    """MONTHLY_ARTICLES papers from every month of the data: the random pages are contiguous runs of arXiv ids,
    so they cover a few weeks each and most months ("from February 2026") would never fit a sampled paper."""
    hist = {"date_histogram": {"field": "publication_date", "calendar_interval": "month", "min_doc_count": 1}}
    months = backend.search("articles", {"size": 0, "aggs": {"m": hist}})["aggregations"]["m"]["buckets"]
    docs = []
    for i, m in enumerate(months):
        start = m["key_as_string"][:10]
        end = months[i + 1]["key_as_string"][:10] if i + 1 < len(months) else None
        window = {"gte": start, **({"lt": end} if end else {})}
        body = {"from": rng.randrange(max(1, min(m["doc_count"], 10000) - MONTHLY_ARTICLES)),
                "size": MONTHLY_ARTICLES, "query": {"range": {"publication_date": window}},
                "sort": [{"arxiv_id": {"order": "asc"}}]}
        docs += [h["_source"] for h in backend.search("articles", body)["hits"]["hits"]]
    return docs


def _sample_passages(backend, rng, last_passage):
    books = sorted(last_passage)
    picks = []
    for _ in range(PASSAGES_SAMPLED):
        book = rng.choice(books)
        picks.append(f"{book}-{rng.randint(1, last_passage[book])}")
    docs = []
    for i in range(0, len(picks), 100):
        body = {"size": 100, "query": {"ids": {"values": picks[i:i + 100]}}}
        docs += [h["_source"] for h in backend.search("gutenberg", body)["hits"]["hits"]]
    docs.sort(key=lambda d: (d["book_id"], d["passage"]))
    return docs


_CACHE = {}   # (id(backend), index, seed) -> IndexValues: read once per engine and process


def load_values(backend, index, seed=0):
    """IndexValues for `index` ("articles" or "gutenberg") read from `backend`; the sample depends only on seed.

    Cached per backend object, so the teacher, the distiller and the tests read an engine's values once.
    """
    key = (id(backend), index, seed)
    if key not in _CACHE:
        _CACHE[key] = _read_values(backend, index, seed)
    return _CACHE[key]


def _read_values(backend, index, seed):
    rng = random.Random(f"values-{index}-{seed}")
    v = IndexValues(index)
    if index == "articles":
        for f, size in (("author", 100), ("authors", 100), ("categories", 60), ("category_names", 60)):
            v.keywords[f] = _terms(backend, index, f, size)
        v.docs = _sample_articles(backend, rng, backend.count(index))
        # plus the newest papers: random pages rarely reach the last weeks, so short relative windows ("past 7
        # days", "last month") would otherwise never fit a sampled paper
        body = {"size": RECENT_ARTICLES,
                "sort": [{"publication_date": {"order": "desc"}}, {"arxiv_id": {"order": "asc"}}]}
        v.docs += [h["_source"] for h in backend.search("articles", body)["hits"]["hits"]]
        v.docs += _sample_months(backend, rng)
    elif index == "gutenberg":
        for f, size in (("author", 100), ("title.keyword", 100)):
            v.keywords[f] = _terms(backend, index, f, size)
        body = {"size": 0, "aggs": {"b": {"terms": {"field": "book_id", "size": 100},
                                          "aggs": {"last": {"max": {"field": "passage"}},
                                                   "t": {"terms": {"field": "title.keyword", "size": 1}},
                                                   "a": {"terms": {"field": "author", "size": 1}},
                                                   "y": {"min": {"field": "publication_date"}}}}}}
        books = {}
        for b in backend.search(index, body)["aggregations"]["b"]["buckets"]:
            books[int(b["key"])] = {"last": int(b["last"]["value"]), "title": b["t"]["buckets"][0]["key"],
                                    "author": b["a"]["buckets"][0]["key"], "date": b["y"]["value_as_string"][:10]}
        v.extra["books"] = books
        v.docs = _sample_passages(backend, rng, {k: b["last"] for k, b in books.items()})
    else:
        raise ValueError(f"index must be 'articles' or 'gutenberg', got {index!r}")
    if not v.docs:
        raise ValueError(f"index {index!r} is empty on this engine; run `tinyllm nlq load` first")
    return v
