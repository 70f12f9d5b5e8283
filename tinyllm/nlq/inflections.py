"""One word the question names, asked for once: not as "surveys" and "survey" together.

"Find surveys: titles containing the word survey." says which word to look up; the student can copy both the
noun of the request ("surveys") and the named word ("survey.", full stop and all) into one search, and since the
engine's analyser does not stem, requiring both finds only titles that hold both forms. When one bool requires
two one-word text clauses on the same field whose words are forms of one word (equal up to a plural -s/-es and
edge punctuation) and the question names exactly one of them as "the word X" / "the term X" / a quoted 'X', the
other is dropped and the named one is searched without its punctuation. Without such a naming nothing changes:
the question alone then does not say which form was meant.
"""
import re

from .either import text_clause
from .quotes import quoted_texts

NAMED = re.compile(r"\bthe (?:word|term|keyword)\s+[\"'\u201c\u2018]?([^\W\d_][\w-]*)", re.IGNORECASE)
EDGE = ".,;:!?\"'()"


def named_words(question):
    """Lower-cased words the question names outright: after "the word/term/keyword", or quoted alone."""
    out = {w.lower() for w in NAMED.findall(question)}
    return out | {t.lower() for t in quoted_texts(question) if len(t.split()) == 1}


def forms_of_one_word(a, b):
    """True when `a` and `b` (lower case) are one word up to a plural ending: survey/surveys, box/boxes."""
    return a != b and any(x + end == y for x, y in ((a, b), (b, a)) for end in ("s", "es"))


def _word(clause):
    """(op, field, value, bare lower-cased word) when `clause` is a one-word text clause, else None."""
    t = text_clause(clause)
    if t is None or len(t[2].split()) != 1 or not t[2].strip(EDGE):
        return None
    return (*t, t[2].strip(EDGE).lower())


def _one_form(clauses, named):
    """`clauses` (one occurrence list) with each unnamed form of a named word dropped."""
    found = [(k, _word(c)) for k, c in enumerate(clauses)]
    found = [(k, w) for k, w in found if w is not None]
    drop, bare = set(), {}
    for k, (op, field, text, word) in found:
        for k2, (_, field2, _, word2) in found:
            if field == field2 and forms_of_one_word(word, word2) and word in named and word2 not in named:
                drop.add(k2)
                bare[k] = {op: {field: {"query": word if text.lower() != word else text}}}
    return [bare.get(k, c) for k, c in enumerate(clauses) if k not in drop]


def one_form(body, question):
    """`body` with each one-word text clause that repeats a named word in another form dropped (module doc)."""
    named = named_words(question)
    query = body.get("query")
    if not named or not isinstance(query, dict) or set(query) != {"bool"}:
        return body
    occs = dict(query["bool"])
    for occ in ("must", "filter"):
        if isinstance(occs.get(occ), list) and len(occs[occ]) > 1:
            occs[occ] = _one_form(occs[occ], named)
    return body if occs == query["bool"] else {**body, "query": {"bool": occs}}
