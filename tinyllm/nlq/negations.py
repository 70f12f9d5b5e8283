"""Does a query negate what the question negates? The check the translator runs on its answer before searching.

The most common miss on fresh distilled questions (23 of the session-18 ensemble's 126) puts a value on the wrong
side of a negation: "passages of book #84 except Jane Austen's" excluded the book and required the author. The
value named first after "except", "not", "without", "outside", or written "-name", is the one the question
excludes, so a query is *inconsistent* when it excludes a value the question names but never negates, or requires
one the question names only negated. The translator then takes its best other candidate that is consistent.
"""
import re

from .nbest import NEGATION


def clause_values(body):
    """[(occurrence, field, value)] for the one-field term / terms / match / match_phrase clauses of `body`'s query:
    those of a top-level bool under their occurrence, a lone such query as `must`. Other clauses are skipped."""
    query = body.get("query")
    if not isinstance(query, dict):
        return []
    occs = query["bool"] if set(query) == {"bool"} and isinstance(query["bool"], dict) else {"must": query}
    out = []
    for occ, clauses in occs.items():
        for clause in clauses if isinstance(clauses, list) else [clauses]:
            if not isinstance(clause, dict) or len(clause) != 1:
                continue
            (op, inner), = clause.items()
            if op not in ("term", "terms", "match", "match_phrase") or not isinstance(inner, dict) or len(inner) != 1:
                continue
            (field, value), = inner.items()
            value = value.get("query") if isinstance(value, dict) else value
            out += [(occ, field, v) for v in (value if isinstance(value, list) else [value])]
    return out


def _spans(name, low):
    """(start, end) of each place the lower-cased question `low` names `name` as whole words."""
    return [m.span() for m in re.finditer(r"(?<!\w)" + re.escape(name.lower()) + r"(?!\w)", low)]


def negated_values(question, named):
    """The keys of `named` ({key: names}) the question negates: written "-name", or the first value named after a
    negation word, at most three words on ("except Jane Austen's", "not written by Mark Twain"). Only the first:
    in "does not mention multimodal tagged cs.CV" the negation ends at "multimodal"."""
    low = question.lower()
    spots = [(s, e, key) for key, names in named.items() for name in names for s, e in _spans(name, low)]
    out = {key for s, _, key in spots if s > 0 and low[s - 1] == "-" and (s == 1 or not low[s - 2].isalnum())}
    for m in NEGATION.finditer(low):
        after = sorted(sp for sp in spots if sp[0] >= m.end())
        if not after or len(re.findall(r"[\w'-]+", low[m.end():after[0][0]])) > 3:
            continue
        end = m.end()
        for s, e, key in after:        # the first value, and those joined to it: "not in cs.CV or cs.RO"
            if s < end:                 # a shorter name inside one already read ("Austen" in "Jane Austen")
                continue
            if end > m.end() and not re.fullmatch(r"(?:\W|'s|\b(?:or|and|nor)\b)*", low[end:s]):
                break
            out.add(key)
            end = e
    return out


def consistent(body, question, names_of):
    """False when `body` excludes a value the question names but does not negate, or requires (filter, must,
    should) a value the question names once, negated (negated_values). `names_of(field, value)` lists how the
    question may name a value (a person also by surname, a book_id by its titles); a value the question does not
    name is not judged."""
    values, low = clause_values(body), question.lower()
    counts = {k: {n: len(_spans(n, low)) for n in names_of(field, value) if n}
              for k, (_, field, value) in enumerate(values)}                     # value -> {name: times named}
    named = {k: [n for n, c in by.items() if c] for k, by in counts.items()}
    named = {k: names for k, names in named.items() if names}
    negated = negated_values(question, named)
    for k, names in named.items():
        if values[k][0] == "must_not" and k not in negated:
            return False
        if values[k][0] != "must_not" and k in negated and all(counts[k][n] == 1 for n in names):
            return False
    return True
