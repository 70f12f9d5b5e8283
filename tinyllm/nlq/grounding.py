"""Value grounding: give a keyword value the model copied from the question the index's own spelling.

`term` on a keyword field is exact and case-sensitive, so "robotics" silently matches nothing where the index
says "Robotics" (NLQ.md, value grounding). The known values are the keyword values of the shipped indexes
(data/*.jsonl.gz) and of the execution-verified examples. A copied value that is not known is repaired, in order:
  1. case: it equals a known value ignoring case ("robotics" -> "Robotics");
  2. span: a known value occurs in the question overlapping the copied words ("Dayeon Ki write" -> "Dayeon Ki",
     "Van Gool" -> "Luc Van Gool"): the model's span boundaries are its most common slip; a value that is not in
     the question at all takes the one known value the question names, if it names exactly one;
  3. surname: one of its words is the last name of exactly one known person ("Twain's" -> "Mark Twain");
  4. sibling field: it is a known value of the twin field (categories "Robotics" -> category_names "Robotics";
     a first author nobody is first author of -> authors).
  5. field of a code: a category code searched for as a word of a text field ({"match": {"title": "math.DG"}})
     becomes a term on the code field: no title or abstract holds "math.dg" as a word, so the match finds
     nothing the question names (`codes_to_filters`).
A book's shorter names (grammar_gutenberg.book_names: "Moby-Dick", "Time Machine") are known spellings of its
stored title, so rule 1 turns a copied short name into the exact `title.keyword` value.
Values with no such match are left alone: the model may be right about a value nobody listed.
A category code the model chose from its vocabulary (not spelled in the question) is also checked against the
category the question names by name: "how many robotics papers" names cs.RO, whatever code the model wrote.
"""
import functools
import gzip
import json

from . import schema
from .grammar_gutenberg import book_names
from .ir import words

EXAMPLES_PATH = schema.DATA_DIR / "nlq_examples.jsonl.gz"
GROUNDED = {"articles": ("author", "authors", "categories", "category_names"),
            "gutenberg": ("author", "title.keyword")}
PEOPLE = {("articles", "author"), ("articles", "authors"), ("gutenberg", "author")}
SIBLING = {("articles", "categories"): "category_names", ("articles", "category_names"): "categories",
           ("articles", "author"): "authors"}     # never a first author: "any author" is the only reading left
CODE_FIELDS = {"articles": ("categories",)}   # fields of codes a question spells as they are stored ("cs.CL")
MAX_SPAN_WORDS = 8          # longest known value looked up as a run of question words


def _keyword_clauses(node, index, types):
    """Yield (container, key, field, clause) for every term/terms value on a keyword field inside a body."""
    if isinstance(node, list):
        for item in node:
            yield from _keyword_clauses(item, index, types)
    elif isinstance(node, dict):
        for kind, clause in node.items():
            if kind in ("term", "terms") and isinstance(clause, dict):
                for field, value in clause.items():
                    if types.get(field) != "keyword":
                        continue
                    if kind == "term" and isinstance(value, dict) and "value" in value:
                        yield value, "value", field, clause
                    elif kind == "term":
                        yield clause, field, field, clause
                    elif isinstance(value, list):
                        yield from ((value, i, field, clause) for i in range(len(value)))
            else:
                yield from _keyword_clauses(clause, index, types)


def keyword_values(index, body, fields):
    """The values of the body's term/terms clauses on `fields` (keyword fields of `index`), in body order."""
    types = schema.field_types(index)
    return [container[key] for container, key, field, _ in _keyword_clauses(body, index, types) if field in fields]


def _add(table, index, field, value):
    if isinstance(value, str) and value:
        table.setdefault((index, field), {}).setdefault(value.lower(), value)


def known_values(path=EXAMPLES_PATH):
    """{(index, field): {lowercased value: value}} from the verified examples (empty if the file is missing)."""
    table = {}
    if not path.exists():
        return table
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            ex = json.loads(line)
            types = schema.field_types(ex["index"])
            for container, key, field, _ in _keyword_clauses(ex["query"], ex["index"], types):
                _add(table, ex["index"], field, container[key])
    return table


@functools.lru_cache(maxsize=2)
def _index_values(data_dir):
    table = {}
    for index, fields in GROUNDED.items():
        path = data_dir / f"{index}.jsonl.gz"
        if not path.exists():
            continue
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                doc = json.loads(line)
                for field in fields:
                    value = doc.get(field.split(".")[0])     # title.keyword holds the title itself
                    for v in value if isinstance(value, list) else [value]:
                        _add(table, index, field, v)
    titles = table.get(("gutenberg", "title.keyword"), {})
    for t in list(titles.values()):                           # "Moby-Dick" names "Moby-Dick; or, The Whale"
        for name in book_names(t)[1:]:
            titles.setdefault(name.lower(), t)
    return table


def index_values(data_dir=schema.DATA_DIR, examples_path=EXAMPLES_PATH):
    """Known values of the grounded keyword fields: every value in the shipped indexes plus the examples' ones."""
    table = {k: dict(v) for k, v in _index_values(data_dir).items()}
    for key, values in known_values(examples_path).items():
        for low, v in values.items():
            table.setdefault(key, {}).setdefault(low, v)
    return table


_SURNAMES = {}     # id(known values) -> (known values, {last name: the one person with it})


def _surnames(known):
    """{lowercased last name: value} over the multi-word values of `known`, for names only one person has."""
    if id(known) not in _SURNAMES:
        out = {}
        for low, v in known.items():
            if " " in low:
                out.setdefault(low.split()[-1], set()).add(v)
        _SURNAMES[id(known)] = (known, {k: next(iter(vs)) for k, vs in out.items() if len(vs) == 1})
    return _SURNAMES[id(known)][1]


def _in_question(known, question):
    """[(start, end, value)] for every known value spelled (ignoring case) by a run of question words."""
    ws, found = words(question), []
    for i in range(len(ws)):
        for j in range(i, min(i + MAX_SPAN_WORDS, len(ws))):
            text = question[ws[i][1]:ws[j][2]].lower()
            v = known.get(text, known.get(_stem(text)))         # "Henrik Ibsen's" names "Henrik Ibsen"
            if v is not None:
                found.append((ws[i][1], ws[j][2], v))
    return found


def _stem(word):
    return word[:-2] if word.endswith("'s") else word


def repair(index, field, value, table, question):
    """(field, value) for one copied keyword value, by the rules in the module docstring."""
    known = table.get((index, field), {})
    if not isinstance(value, str) or value in known.values():
        return field, value
    for v in (value.lower(), _stem(value.lower())):     # "Robotics", "Jingren Zhou's"
        if v in known:
            return field, known[v]
    if question:
        at, named = question.lower().find(value.lower()), _in_question(known, question)
        if at >= 0:
            spans = [(e - s, v) for s, e, v in named if s < at + len(value) and at < e]
            if spans:
                return field, max(spans)[1]
        elif len({v for _, _, v in named}) == 1:      # a garbled value, and the question names one known value
            return field, named[0][2]
        if (index, field) in PEOPLE:
            people, asked = _surnames(known), {_stem(w.lower()) for w, _, _ in words(question)}
            hits = {w: people[w] for w in (_stem(w) for w in value.lower().split()) if w in people}
            named = {v for w, v in hits.items() if w in asked}   # prefer surnames the question itself uses
            if len(named or set(hits.values())) == 1:
                return field, (named or set(hits.values())).pop()
    twin = SIBLING.get((index, field))
    for v in (value.lower(), _stem(value.lower())):
        if twin and v in table.get((index, twin), {}):
            return twin, table[(index, twin)][v]
    return field, value


@functools.lru_cache(maxsize=2)
def category_codes(data_dir=schema.DATA_DIR):
    """{lowercased category name, or its part before " and " when it has 4+ words: set of codes} from the
    articles whose codes and names pair up one to one."""
    out = {}
    path = data_dir / "articles.jsonl.gz"
    if not path.exists():
        return out
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            if len(doc.get("categories", [])) == len(doc.get("category_names", [])):
                for code, name in zip(doc["categories"], doc["category_names"]):
                    out.setdefault(name.lower(), set()).add(code)
                    if len(name.split()) > 3:
                        out.setdefault(name.lower().split(" and ")[0], set()).add(code)
    return out


def named_categories(question, names):
    """[(name, codes)] of the categories `question` names, by the longest names that fit ("pattern recognition"
    inside "computer vision and pattern recognition" is not a name of its own); `names` as category_codes."""
    found = _in_question({n: n for n in names}, question)
    return [(n, names[n]) for s, e, n in found
            if not any(s2 <= s and e <= e2 and (s2, e2) != (s, e) for s2, e2, _ in found)]


def named_code(code, question, names):
    """The code of the one category `question` names (longest names first), if the model's `code` is not
    spelled in the question and is not among the named categories' codes; else `code` unchanged."""
    if code.lower() in question.lower():
        return code
    found = named_categories(question, names)
    codes = set().union(*(c for _, c in found)) if found else set()
    return code if code in codes or len(codes) != 1 else codes.pop()


def ground(index, body, table, question=None):
    """`body` with each keyword term value repaired to a known value where one fits (in place; see `repair`), and
    clauses on a value the index cannot hold dropped (see `prune`)."""
    types = schema.field_types(index)
    for container, key, field, clause in list(_keyword_clauses(body, index, types)):
        if question and (index, field) == ("articles", "categories") and isinstance(container[key], str):
            container[key] = named_code(container[key], question, category_codes())
        new_field, new_value = repair(index, field, container[key], table, question)
        container[key] = new_value
        if new_field != field and isinstance(key, str) and field in clause and len(clause) == 1:
            clause[new_field] = clause.pop(field)
    return prune(index, body, table) if question else body


def codes_to_filters(index, node, table):
    """A copy of a body (or part) where each match/match_phrase whose whole query is a known code of the index's
    code field (`table`, as index_values returns it) is a term on that field, in the code's stored spelling."""
    if isinstance(node, list):
        return [codes_to_filters(index, x, table) for x in node]
    if not isinstance(node, dict):
        return node
    (kind, clause), = node.items() if len(node) == 1 else ((None, None),)
    if kind in ("match", "match_phrase") and isinstance(clause, dict) and len(clause) == 1:
        spec, = clause.values()
        text = spec.get("query") if isinstance(spec, dict) else spec
        for field in CODE_FIELDS.get(index, ()) if isinstance(text, str) else ():
            code = table.get((index, field), {}).get(text.strip().lower())
            if code is not None:
                return {"term": {field: code}}
    return {k: codes_to_filters(index, v, table) for k, v in node.items()}


def _stray(index, clause, table):
    """True for `{"term": {F: v}}` on a grounded field where v is unknown and all lower case ("the index"): a
    phrase the model copied by mistake; names and codes keep their capitals, so they are never stray."""
    if not (isinstance(clause, dict) and len(clause) == 1 and isinstance(clause.get("term"), dict)):
        return False
    (field, value), = clause["term"].items() if len(clause["term"]) == 1 else ((None, None),)
    known = table.get((index, field))
    return bool(known) and isinstance(value, str) and value == value.lower() and value not in known.values()


def _clean(index, clause, table):
    """`clause` without stray values (see `_stray`): None for a stray term, and a terms list keeps only its other
    values ("cs.CL or eess.AS" copied as `["cs.CL", "or"]`), None when none is left."""
    if _stray(index, clause, table):
        return None
    terms = clause.get("terms") if isinstance(clause, dict) and len(clause) == 1 else None
    if isinstance(terms, dict) and len(terms) == 1 and isinstance(next(iter(terms.values())), list):
        (field, values), = terms.items()
        kept = [v for v in values if not _stray(index, {"term": {field: v}}, table)]
        if len(kept) < len(values):
            return {"terms": {field: kept}} if kept else None
    return clause


def prune(index, body, table):
    """Drop stray term clauses and terms values (see `_clean`): they can only match nothing in a filter and exclude
    nothing in a must_not, and the rest of the question usually says what was meant. An emptied query becomes
    match_all."""
    query = body.get("query")
    if isinstance(query, dict) and not isinstance(query.get("bool"), dict):
        body["query"] = _clean(index, query, table) or {"match_all": {}}
    elif isinstance(query, dict):
        b = query["bool"]
        for occ in ("must", "filter", "must_not"):
            if isinstance(b.get(occ), list):
                b[occ] = [c for c in (_clean(index, c, table) for c in b[occ]) if c is not None]
                if not b[occ]:
                    del b[occ]
        if not any(k in b for k in ("must", "filter", "should", "must_not")):
            body["query"] = {"match_all": {}}
    return body
