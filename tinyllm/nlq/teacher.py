"""The template teacher: a grammar over each index's schema and real values -> (question, query, intent) candidates.

For each candidate it picks an intent (search, count, top-k, group-by, ...), one real document, one to three
filters drawn from that document (grammar_articles / grammar_gutenberg), and a head that wraps them; the
question is rendered in one of many phrasings (full question, command, terse keywords). Deterministic given
the seed and the values. Candidates are unverified: distill.py validates and executes each one.
"""
import datetime as dt
import random
from dataclasses import replace

from . import dates
from . import grammar_articles as GA
from . import grammar_gutenberg as GG
from . import templates as T
from .examples import Example
from .values import load_values

NOUNS = {"articles": ["papers", "articles", "preprints", "arXiv papers", "publications"],
         "gutenberg": ["passages", "excerpts", "book passages", "sections", "text passages"]}
# nouns with a word that names the kind of document, not a topic (round 9): said a quarter of the time, so the
# student learns that "play passages" or "research papers" asks for no `match` on "play" or "research"
KIND_NOUNS = {"articles": ["research papers", "scientific papers", "studies", "works", "manuscripts",
                           "arXiv submissions", "research articles"],
              "gutenberg": ["novel passages", "play passages", "story passages", "lines", "paragraphs",
                            "passages of text", "prose passages"]}
KIND_NOUN_RATE = 0.25
SINGULAR = {"articles": ["paper", "article", "preprint"], "gutenberg": ["passage", "excerpt"]}
# "joint papers of A and B": a pair of co-authors said with a noun that already means "together"
JOINT_NOUNS = ["joint papers", "joint work", "shared papers", "co-authored papers", "collaborations"]
CARD_FIELDS = {"articles": {"author": "first authors", "authors": "authors", "categories": "categories"},
               "gutenberg": {"author": "authors", "title.keyword": "books", "book_id": "book ids"}}
SOURCE_FIELDS = {"articles": [(["title"], "titles"), (["title", "publication_date"], "titles and dates"),
                              (["arxiv_id", "title"], "ids and titles"), (["authors"], "author lists")],
                 "gutenberg": [(["title", "passage"], "titles and passage numbers"), (["title"], "book titles"),
                               (["author", "title"], "authors and titles")]}
INTENTS = {"search": 6, "count": 3, "topk_date": 2, "pagination": 1, "group_by": 2, "time_buckets": 1.3,
           "distinct_count": 1.3, "metric": 1, "top_per_group": 0.5, "highlight": 0.7, "source_filter": 0.7,
           "any_field": 0.7, "fuzzy_match": 0.4, "passage_range": 1.5, "no_results": 0.2}


def _weighted(rng, pairs):
    items, weights = zip(*pairs)
    return rng.choices(items, weights=weights, k=1)[0]


def _group(kind):
    """Clause kinds that should not appear twice in one question (two date filters, a title and a book id)."""
    if kind.startswith(("date", "pub")):
        return "date"
    if kind.startswith("either"):
        return "either"
    if kind.startswith("author"):
        return "author"
    return "book" if kind in ("title", "book_short", "book_id", "title_word") else kind


class TemplateTeacher:
    """Generates candidate Examples for both indexes from `values` ({index: IndexValues}); seeded."""

    def __init__(self, values, seed=0, indexes=("articles", "gutenberg")):
        self.values, self.rng, self.indexes = values, random.Random(seed), tuple(indexes)
        self._recent = {}      # index -> its documents from the last 90 days (see _doc)
        self._by_area = {}     # subject area -> sampled articles filed under it (see _doc)
        for index in self.indexes:
            if index not in values:
                raise ValueError(f"values: no IndexValues for index {index!r}")

    @classmethod
    def from_backend(cls, backend, seed=0, indexes=("articles", "gutenberg")):
        return cls({i: load_values(backend, i, seed=seed) for i in indexes}, seed=seed, indexes=indexes)

    def generate(self, n):
        """Yield up to n candidates (a grammar branch that finds nothing suitable in its document is skipped)."""
        made = attempts = 0
        while made < n and attempts < 20 * n + 100:
            attempts += 1
            ex = self.one()
            if ex is not None:
                made += 1
                yield ex

    def one(self):
        rng = self.rng
        index = rng.choice(self.indexes)
        intents = [(k, w) for k, w in INTENTS.items() if not (k == "passage_range" and index != "gutenberg")]
        self._head = _weighted(rng, intents)
        return getattr(self, "_" + self._head)(rng, index, self.values[index])

    # ------------------------------------------------------------ filters
    def _doc(self, rng, index, v):
        """A sampled document; for articles, a quarter of the time one from the last 90 days before DATA_NOW, so
        short relative windows ("past week", "last 30 days") fit a document as often as long ones, and 15% of
        the time one from a subject area chosen uniformly, so rare areas ("sound", cs.SD) are said often enough."""
        if index == "articles" and rng.random() < 0.15:
            if not self._by_area:
                for d in v.docs:
                    for n in d["category_names"]:
                        self._by_area.setdefault(n, []).append(d)
            return rng.choice(self._by_area[rng.choice(sorted(self._by_area))])
        if index == "articles" and rng.random() < 0.25:
            if index not in self._recent:
                cut = (dt.date.fromisoformat(dates.DATA_NOW) - dt.timedelta(days=90)).isoformat()
                self._recent[index] = [d for d in v.docs if d["publication_date"] >= cut] or v.docs
            return rng.choice(self._recent[index])
        return rng.choice(v.docs)

    def _filters(self, rng, index, v, doc, lo, hi, negate=0.25):
        g = GA if index == "articles" else GG
        want = rng.choice([k for k in range(lo, hi + 1) for _ in range(4 - k)])  # fewer filters are likelier
        clauses, kinds = [], set()
        for _ in range(4 * want + 2):
            if len(clauses) >= want:
                break
            c = _weighted(rng, g.POSITIVE)(rng, doc, v)
            group = c if isinstance(c, list) else [c]      # a pair of filters said together ("in A and B")
            if c is not None and not kinds & {_group(x.kind) for x in group}:
                clauses += group
                kinds |= {_group(x.kind) for x in group}
        if clauses and rng.random() < negate:
            c = _weighted(rng, g.NEGATIVE)(rng, doc, v)
            if c is not None:
                clauses.append(c)
        return clauses

    def _example(self, index, question, body, intent, compare, clauses, **extra):
        merged = T.merge_extra(clauses)
        merged.update(extra)
        # the template combination (head + filter kinds), so part 2 can hold out unseen combinations (NLQ.md M5)
        merged["template"] = self._head + ":" + "+".join(sorted(c.kind for c in clauses))
        question = T.with_scope(self.rng, index, question)
        return Example(question=question, index=index, query=body, intent=intent, compare=compare,
                       teacher="template", extra=merged)

    def _np(self, rng, index, clauses, terse_ok=True):
        noun = rng.choice(KIND_NOUNS[index] if rng.random() < KIND_NOUN_RATE else NOUNS[index])
        pair = [c for c in clauses if c.kind == "coauthor_pair"]
        if pair and rng.random() < 0.3:
            a, b = (t["term"]["authors"] for t in pair[0].dsl["bool"]["filter"])
            noun = rng.choice(JOINT_NOUNS)
            clauses = [replace(c, post=[f"of {a} and {b}", f"by {a} and {b}", f"between {a} and {b}"])
                       if c is pair[0] else c for c in clauses]
        if terse_ok and clauses and rng.random() < 0.12:
            return T.terse_phrase(rng, noun, clauses), True
        return T.noun_phrase(rng, noun, clauses), False

    # ------------------------------------------------------------ heads
    def _search(self, rng, index, v):
        clauses = self._filters(rng, index, v, self._doc(rng, index, v), 1, 3)
        if not clauses:
            return None
        np_, terse = self._np(rng, index, clauses)
        q = np_ if terse else T.say(rng, T.SEARCH_FORMS, np=np_)
        if len(clauses) == 1 and clauses[0].said and clauses[0].text_field != "title" and rng.random() < 0.3:
            quote = clauses[0].kind == "content_phrase" and rng.random() < 0.3    # "X - which passage is that?"
            q = T.say(rng, T.QUOTE_FORMS if quote else T.WHERE_FORMS[index], x=clauses[0].said)
        elif index == "articles" and rng.random() < 0.15:
            rest = T.verb_rest(rng, clauses)              # "what came out last month in cs.CL?": no noun at all
            q = T.say(rng, T.CAME_OUT_FORMS, rest=rest) if rest else q
        elif rng.random() < 0.07:
            rest = T.bare_rest(rng, clauses)              # "everything written by Jonathan Swift": not any_field
            q = T.say(rng, T.EVERYTHING_FORMS, rest=rest) if rest else q
        return self._example(index, q, T.search_body(T.assemble(clauses)), T.search_intent(clauses), "set", clauses)

    def _count(self, rng, index, v):
        clauses = self._filters(rng, index, v, self._doc(rng, index, v), 0 if rng.random() < 0.08 else 1, 2)
        np_, _ = self._np(rng, index, clauses, terse_ok=False)
        q = T.say(rng, T.COUNT_FORMS + ([] if clauses else T.COUNT_ALL_FORMS), np=np_)
        return self._example(index, q, T.count_body(T.assemble(clauses)), "count", "count", clauses)

    def _topk_date(self, rng, index, v):
        clauses = self._filters(rng, index, v, self._doc(rng, index, v), 0, 2)
        k = rng.choice([1, 2, 3, 5, 5, 10, 10, 20])
        newest = rng.random() < 0.6
        np_, _ = self._np(rng, index, clauses, terse_ok=False)
        if len(clauses) == 1 and clauses[0].kind == "author" and rng.random() < 0.3:
            k = 1
            a = clauses[0].dsl["term"]["author"]                    # "Hao Li's latest paper"
            q = T.say(rng, T.POSSESSIVE_NEWEST if newest else T.POSSESSIVE_OLDEST, a=a,
                      one=rng.choice(SINGULAR[index] + (["work"] if index == "articles" else ["book"])))
        elif k == 1 and rng.random() < 0.4:
            sg = T.noun_phrase(rng, rng.choice(SINGULAR[index]), clauses)
            q = T.say(rng, T.SINGLE_NEWEST_SG if newest else T.SINGLE_OLDEST_SG, sg=sg)
        elif k == 1:
            q = T.say(rng, T.SINGLE_NEWEST_FORMS if newest else T.SINGLE_OLDEST_FORMS, np=np_)
        else:
            q = T.say(rng, T.NEWEST_FORMS if newest else T.OLDEST_FORMS, np=np_, k=T.number(rng, k))
        if rng.random() < 0.2:                    # the sort said outright: "the 3 oldest passages by date"
            end = "?" if q.endswith("?") else ""
            q = q.rstrip("?") + rng.choice(T.SORT_SAID) + end
        body = T.sorted_body(T.assemble(clauses), k, "publication_date", "desc" if newest else "asc")
        if rng.random() < 0.25:
            src, said = rng.choice(SOURCE_FIELDS[index])
            body["_source"] = list(src)
            q = T.say(rng, ["{q}, {f} only", "{q} (just the {f})", "{q}; show only the {f}", "only the {f} of {q}",
                            "the {f} of {q}", "{f} for {q}"], q=q, f=said)
        return self._example(index, q, body, "topk_date", "topk", clauses)

    def _pagination(self, rng, index, v):
        clauses = self._filters(rng, index, v, self._doc(rng, index, v), 0, 1)
        k, p = rng.choice([5, 10, 10, 20]), rng.randint(2, 4)
        np_, _ = self._np(rng, index, clauses, terse_ok=False)
        order = rng.choice(["newest"] * 5 + ["oldest"] * 2 + (["reading"] * 3 if index == "gutenberg" else []))
        forms = {"newest": T.PAGE_FORMS, "oldest": T.PAGE_OLDEST_FORMS, "reading": T.PAGE_READING_FORMS}[order]
        page = rng.choice(T.PAGE_WORDS[p]) if rng.random() < 0.3 else f"page {p}"
        q = T.say(rng, forms, np=np_, k=k, p=p, page=page, a=(p - 1) * k + 1, b=p * k)
        field, direction = ("passage", "asc") if order == "reading" else (
            "publication_date", "asc" if order == "oldest" else "desc")
        body = T.sorted_body(T.assemble(clauses), k, field, direction, start=(p - 1) * k)
        return self._example(index, q, body, "pagination", "topk", clauses)

    def _group_by(self, rng, index, v):
        doc = self._doc(rng, index, v)
        if index == "articles" and rng.random() < 0.2:
            return self._cooccur(rng, index, v, doc)
        fld, said = rng.choice(sorted(T.GROUP_FIELDS[index].items()))
        what, one = rng.choice(said)
        clauses = [c for c in self._filters(rng, index, v, doc, 0, 2) if fld not in str(c.dsl)]
        prolific = T.PROLIFIC_FORMS if fld in ("author", "authors") and rng.random() < 0.2 else []
        form, k = rng.choice(prolific or T.GROUP_FORMS), rng.choice([3, 5, 5, 10, 10, 20])
        rest = T.verb_rest(rng, clauses) if fld == "title.keyword" and rng.random() < 0.3 else None
        if rest:                                # "what books were published in 1847?": titles, not a search
            np_, form = "", rng.choice(T.BOOKS_CAME_OUT_FORMS)
        elif fld == "title.keyword" and clauses and rng.random() < 0.6:    # "Dickens novels after 1850": titles
            np_ = T.noun_phrase(rng, rng.choice(["books", "novels", "works", "titles"]), clauses)
            form = rng.choice(T.BOOK_LIST_FORMS)
        else:
            np_, _ = self._np(rng, index, clauses, terse_ok=False)
        k = k if "{k}" in form else T.unstated_groups(form)
        q = T.say(rng, [form], np=np_, what=what, one=one, k=T.number(rng, k), rest=rest)
        clauses = clauses if "{np}" in form or rest else []     # "most prolific authors" names no filter
        body = T.agg_body(T.assemble(clauses), "by_" + fld.split(".")[0], {"terms": {"field": fld, "size": k}})
        return self._example(index, q, body, "group_by", "aggs", clauses)

    def _cooccur(self, rng, index, v, doc):
        """A terms aggregation over the very field the query filters on: co-authors of an author, subject areas
        filed together with an area (the filtered value itself is one of the buckets)."""
        fld = rng.choice(["authors", "category_names", "categories"])
        value = rng.choice(doc[fld])
        forms = {"authors": T.COAUTHOR_FORMS, "category_names": T.COAREA_FORMS, "categories": T.COCODE_FORMS}[fld]
        form = rng.choice(forms)
        k = rng.choice([3, 5, 10, 20]) if "{k}" in form else 10
        q = T.say(rng, [form], x=value, k=T.number(rng, k))
        body = T.agg_body({"term": {fld: value}}, "with", {"terms": {"field": fld, "size": k}})
        clause = T.Clause("co_" + fld, {"term": {fld: value}}, "filter", [])
        return self._example(index, q, body, "group_by", "aggs", [clause])

    def _time_buckets(self, rng, index, v):
        unit = rng.choice(["month", "month", "week", "year"]) if index == "articles" else "year"
        clauses = self._filters(rng, index, v, self._doc(rng, index, v), 0, 2)
        np_, _ = self._np(rng, index, clauses, terse_ok=False)
        adv = {"month": "monthly", "week": "weekly", "year": "yearly"}[unit]
        q = T.say(rng, T.HIST_FORMS, np=np_, unit=unit, adv=adv)
        spec = {"date_histogram": {"field": "publication_date", "calendar_interval": unit}}
        if index == "gutenberg" or any(not c.kind.startswith(("category", "date")) for c in clauses):
            spec["date_histogram"]["min_doc_count"] = 1     # a sparse series lists only its non-empty buckets
        return self._example(index, q, T.agg_body(T.assemble(clauses), "per_" + unit, spec), "time_buckets", "aggs",
                             clauses)

    def _distinct_count(self, rng, index, v):
        fld, what = rng.choice(sorted(CARD_FIELDS[index].items()))
        clauses = [c for c in self._filters(rng, index, v, self._doc(rng, index, v), 0, 2) if fld not in str(c.dsl)]
        np_, _ = self._np(rng, index, clauses, terse_ok=False)
        forms = T.CARD_ALL_FORMS if not clauses and rng.random() < 0.5 else T.CARD_FORMS
        if clauses and "author" in fld and rng.random() < 0.3:
            forms = T.CARD_WROTE_FORMS             # "how many different authors wrote robotics papers?"
        elif fld == "title.keyword" and clauses and not any(_group(c.kind) == "book" for c in clauses) \
                and rng.random() < 0.85:                                # "how many books by Dickens are there?"
            np_, forms = T.noun_phrase(rng, rng.choice(["books", "books", "novels"]), clauses), T.CARD_BOOK_FORMS
        q = T.say(rng, forms, np=np_, what=what)
        body = T.agg_body(T.assemble(clauses), "distinct", {"cardinality": {"field": fld}})
        return self._example(index, q, body, "distinct_count", "aggs", clauses)

    def _metric(self, rng, index, v):
        doc = self._doc(rng, index, v)
        if index == "gutenberg" and rng.random() < 0.1:
            q = T.say(rng, T.LONGEST_FORMS)
            return self._example(index, q, T.agg_body(None, "last_passage", {"max": {"field": "passage"}}),
                                 "metric", "aggs", [])
        if index == "gutenberg" and rng.random() < 0.4:
            clause = GG.title(rng, doc, v)
            name = clause.pre[0]
            q = T.say(rng, ["how many passages does {b} have?", "last passage number of {b}",
                            "highest passage number in {b}", "how long is {b} in passages?",
                            "what is the final passage of {b}?"], b=name)
            body = T.agg_body(clause.dsl, "last_passage", {"max": {"field": "passage"}})
            return self._example(index, q, body, "metric", "aggs", [clause])
        clauses = self._filters(rng, index, v, doc, 0, 2)
        np_, _ = self._np(rng, index, clauses, terse_ok=False)
        op = rng.choice(["min", "max"])
        q = T.say(rng, T.MIN_FORMS if op == "min" else T.MAX_FORMS, np=np_)
        body = T.agg_body(T.assemble(clauses), "earliest" if op == "min" else "latest",
                          {op: {"field": "publication_date"}})
        return self._example(index, q, body, "metric", "aggs", clauses)

    def _top_per_group(self, rng, index, v):
        clauses = [c for c in self._filters(rng, index, v, self._doc(rng, index, v), 0, 1)
                   if _group(c.kind) != "book"]        # "the first passage of Emma in each book" says nothing
        np_, _ = self._np(rng, index, clauses, terse_ok=False)
        if index == "articles":
            fld, one, what = rng.choice([("categories", "category", "categories"),
                                         ("category_names", "subject area", "subject areas")])
            sort = [{"publication_date": {"order": "desc"}}, {"arxiv_id": {"order": "asc"}}]
            forms = ["newest of the {np} in each {one}", "latest {np} per {one}", "most recent {np} for every {one}",
                     "the newest {sg} in each {one}", "latest {sg} for every {one}", "most recent {sg} per {one}"]
            sized = ["the newest {sg} in each of the {k} biggest {what}", "latest {sg} for the top {k} {what}",
                     "most recent {np} in each of the {k} largest {what}"]
            src = ["title"]
        else:
            fld, one, what = "title.keyword", "book", "books"
            sort = [{"passage": {"order": "asc"}}]
            forms = ["first of the {np} in each {one}", "opening {np} per {one}", "earliest {np} in every {one}",
                     "the first {sg} of each {one}", "opening {sg} of every {one}"]
            sized = ["the first {sg} of each of the {k} biggest {what}", "opening {sg} of the top {k} {what}"]
            src = ["passage"]
        sg = T.noun_phrase(rng, SINGULAR[index][0], clauses)
        k = 10                                  # unsaid, the number of groups is the default
        if rng.random() < 0.25:                 # "... for the top 5 categories": the groups' number said
            k, forms = rng.choice([3, 5, 5, 20]), sized
        q = T.say(rng, forms, np=np_, one=one, sg=sg, what=what, k=T.number(rng, k))
        spec = {"terms": {"field": fld, "size": k},
                "aggs": {"top": {"top_hits": {"size": 1, "sort": sort, "_source": src}}}}
        return self._example(index, q, T.agg_body(T.assemble(clauses), "groups", spec), "top_per_group", "aggs",
                             clauses)

    def _highlight(self, rng, index, v):
        g = GA if index == "articles" else GG
        doc = self._doc(rng, index, v)
        text = rng.choice(g.TEXT)(rng, doc, v)
        if text is None:
            return None
        # not a second text clause of the same kind; both halves of a pair ("in both A and B") stay
        clauses = [text] + [c for c in self._filters(rng, index, v, doc, 0, 1, negate=0) if c.kind != text.kind]
        np_, _ = self._np(rng, index, clauses, terse_ok=False)
        q = T.say(rng, T.HIGHLIGHT_FORMS, np=np_, field=text.text_field)
        body = T.search_body(T.assemble(clauses))
        body["highlight"] = {"fields": {text.text_field: {}}}
        return self._example(index, q, body, "highlight", "set", clauses)

    def _source_filter(self, rng, index, v):
        clauses = self._filters(rng, index, v, self._doc(rng, index, v), 1, 2)
        if not clauses:
            return None
        src, said = rng.choice(SOURCE_FIELDS[index])
        np_, _ = self._np(rng, index, clauses, terse_ok=False)
        body = T.search_body(T.assemble(clauses))
        body["_source"] = list(src)
        return self._example(index, T.say(rng, T.SOURCE_FORMS, np=np_, fields=said), body, "source_filter", "set",
                             clauses)

    def _any_field(self, rng, index, v):
        g = GA if index == "articles" else GG
        doc = self._doc(rng, index, v)
        text = rng.choice(g.TEXT)(rng, doc, v)
        if text is None or text.kind.endswith("_and"):
            return None
        value = next(iter(next(iter(text.dsl.values())).values()))
        fields = ["title", "abstract"] if index == "articles" else ["title", "content"]
        mm = {"query": value, "fields": fields}
        if "phrase" in text.kind:
            mm["type"] = "phrase"
            value = f'"{value}"' if rng.random() < 0.5 else value    # a phrase is said plainly as often as quoted
        q = T.say(rng, ["anything about {w}", "{w}", "search everything for {w}", "anything mentioning {w}",
                        "find {w} anywhere", "whatever matches {w}"], w=value)
        return self._example(index, q, {"query": {"multi_match": mm}}, "any_field", "set", [])

    def _fuzzy_match(self, rng, index, v):
        doc = self._doc(rng, index, v)
        field = "title" if index == "articles" else "content"
        pool = [w for w in (GA.words(doc[field], min_len=7)) if w.isalpha()]
        if not pool:
            return None
        w = rng.choice(pool)
        i = rng.randrange(1, len(w) - 2)
        typo = w[:i] + w[i + 1] + w[i] + w[i + 2:] if rng.random() < 0.5 else w[:i] + w[i + 1:]
        if typo == w:
            return None
        q = T.say(rng, ["something like '{t}' in the {f} (spelling may be off)", "{f} similar to {t}",
                        "fuzzy match {t} in the {f}", "I think the {f} says {t}, not sure of the spelling",
                        "'{t}' in the {f}, though the spelling may be wrong", "roughly '{t}' in the {f}",
                        "{f} with something like {t} (not sure how it is spelled)", "approximately {t} in the {f}"],
                  t=typo, f=field)
        body = {"query": {"match": {field: {"query": typo, "fuzziness": "AUTO"}}}}
        return self._example(index, q, body, "fuzzy_match", "set", [])

    def _passage_range(self, rng, index, v):
        q, body, compare, book = GG.passage_range(rng, self._doc(rng, index, v), v)
        return self._example(index, q, body, "passage_range", compare, [book])

    def _no_results(self, rng, index, v):
        if index == "articles":
            y = rng.randint(2015, 2024)
            q = T.say(rng, ["papers from {y}", "articles published in {y}", "how about papers from {y}?"], y=y)
            body = {"query": {"range": {"publication_date": {"gte": f"{y}-01-01", "lt": f"{y + 1}-01-01"}}}}
        else:
            y = rng.randint(1930, 2020)
            q = T.say(rng, ["passages from books published after {y}", "excerpts of books newer than {y}"], y=y)
            body = {"query": {"range": {"publication_date": {"gt": f"{y}-12-31"}}}}
        return self._example(index, q, body, "no_results", "set", [], expect_empty=True)
