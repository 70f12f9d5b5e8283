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


def words(text, min_len=4):
    """Lower-case content words of `text` (letters, digits, inner hyphens), stopwords removed, order kept."""
    toks = re.findall(r"[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*", text)
    return [t.lower() for t in toks if len(t) >= min_len and t.lower() not in STOPWORDS]


def phrases(text, n=2):
    """Runs of n consecutive content words that are adjacent in the text (candidate match_phrase values)."""
    toks = re.findall(r"[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*|[^\sA-Za-z]", text)
    out = []
    for i in range(len(toks) - n + 1):
        run = toks[i:i + n]
        if all(re.match(r"[A-Za-z]", t) and len(t) >= 3 for t in run) and not all(t.lower() in STOPWORDS for t in run) \
                and run[0].lower() not in STOPWORDS and run[-1].lower() not in STOPWORDS:
            out.append(" ".join(t.lower() for t in run))
    return out


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
