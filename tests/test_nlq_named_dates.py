"""Dates a question names ("February 2026", "before April 16, 2026") bound the date literals the grammar offers:
a random walk through the grammar only ever writes dates that agree with them, and never a dead end."""
import datetime as dt
import random

from hypothesis import given, settings, strategies as st

from tinyllm.nlq import dates
from tinyllm.nlq.compiler import compile_ir
from tinyllm.nlq.constrained import Constraint, Context
from tinyllm.nlq.ir import words
from tinyllm.nlq.testing import body_keys
from tinyllm.nlq.validate import validate

MONTH_LITERALS = [f"=-{m:02d}-{d}" for m in range(1, 13) for d in ("", "01", "03", "08")]
LITERALS = MONTH_LITERALS + ["=2026-01-01", "=2025-07-04", "=2026-07-01||/d", "=2026-07-01||-1M/M", "=0", "=1",
                             "=cs.RO", "=2026-07-01||-", "=d/d"]


def _words(q):
    return [w for w, _, _ in words(q)]


def test_months_are_read_only_beside_a_number():
    assert dates.named_dates(_words("articles from February 2026")) == {2: set()}
    assert dates.named_dates(_words("papers between 10 and 12 May 2025")) == {5: {10, 12}}    # 10 shares May
    assert dates.named_dates(_words("papers from May 10 to 12, 2025")) == {5: {10, 12}}
    assert dates.named_dates(_words("papers from May 2025 and 2026")) == {5: set()}
    assert dates.named_dates(_words("after June 20, 2026 or before the 5 of May")) == {6: {20}, 5: {5}}
    assert dates.named_dates(_words("August 3, 2025 to August 26, 2025")) == {8: {3, 26}}
    assert dates.named_dates(_words("I may have misspelled it, 2025")) == {}
    assert dates.named_dates(_words("earliest 5 Louisa May Alcott passages")) == {}


def _random_walk(question, seed):
    rng, con = random.Random(seed), Constraint(Context(question, "articles", LITERALS))
    while not con.done:
        allowed = sorted(con.allowed())
        assert allowed, f"dead end after {con.tokens}"
        con.advance(rng.choice(allowed))
    return con.tokens


def _date_bounds(body):
    """(op, YYYY-MM-DD) for every concrete date the body compares publication_date with."""
    out = []

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("range", "term") and isinstance(v, dict) and "publication_date" in v:
                    spec = v["publication_date"]
                    pairs = spec.items() if isinstance(spec, dict) else [("term", spec)]
                    out.extend((op, x) for op, x in pairs if isinstance(x, str) and len(x) == 10 and "|" not in x)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(body)
    return out


@settings(deadline=None, max_examples=60)
@given(month=st.integers(1, 12), day=st.none() | st.integers(1, 28), year=st.sampled_from([2025, 2026]),
       lead=st.sampled_from(["papers from", "robotics papers published before", "count papers after", "papers on"]),
       seed=st.integers(0, 10**6))
def test_random_walks_write_only_the_dates_the_question_names(month, day, year, lead, seed):
    name = dates.MONTHS[month - 1]
    q = f"{lead} {name} {day}, {year}" if day else f"{lead} {name} {year}"
    body = validate("articles", compile_ir(_random_walk(q, seed), q, "articles"))
    assert not any("script" in k for k in body_keys(body))
    nxt = month % 12 + 1
    for op, text in _date_bounds(body):
        d = dt.date.fromisoformat(text)
        ok = {(month, day or 1)} | ({(nxt, 1)} if op == "lt" and day is None and "before" not in lead else set())
        if day is None and "after" in lead and op == "gte":
            ok = {(nxt, 1)}                                     # "after April 2025" starts on May 1
        assert (d.month, d.day) in ok, (q, op, text)


@settings(deadline=None, max_examples=40)
@given(seed=st.integers(0, 10**6))
def test_a_range_window_is_never_empty_nor_one_day_twice(seed):
    for q in ("papers published between May 3, 2026 and June 18, 2026",
              "how many papers were published between June 1 and June 7, 2026?"):
        body = validate("articles", compile_ir(_random_walk(q, seed), q, "articles"))
        for spec in _ranges(body):                 # each range clause alone (two clauses may bound one field)
            bounds = {op: x for op, x in spec.items() if isinstance(x, str) and len(x) == 10 and "|" not in x}
            lo, hi = bounds.get("gte") or bounds.get("gt"), bounds.get("lte") or bounds.get("lt")
            if lo and hi:
                assert lo < hi, bounds


def _ranges(node):
    """Every range spec on publication_date inside `node`."""
    if isinstance(node, dict):
        here = [node["range"]["publication_date"]] if isinstance(node.get("range"), dict) and isinstance(
            node["range"].get("publication_date"), dict) else []
        return here + [r for v in node.values() for r in _ranges(v)]
    return [r for v in node for r in _ranges(v)] if isinstance(node, list) else []


def test_a_copied_day_is_one_named_beside_the_month_literal_before_it():
    q = "what got published between July 5, 2025 and August 9, 2025?"    # July @4, 5 @5, August @9, 9 @10
    con = Constraint(Context(q, "articles", ["=-07-", "=-08-"]))
    for tok in ("<q>", "range", "f:publication_date", "gte", "@7", "=-08-"):
        con.advance(tok)
    assert con.allowed() == {"@10"}            # August 9, never August 5


def test_the_second_bound_of_a_range_copies_a_later_day():
    q = "papers published between June 1 and June 7, 2026"   # words: ... June @3, 1 @4, June @6, 7 @7, 2026 @9
    con = Constraint(Context(q, "articles", ["=-06-", "=-06-01", "=-07-01"]))
    for tok in ("<q>", "range", "f:publication_date", "gte", "@9", "=-06-", "@4", ";", "lte", "@9", "=-06-"):
        con.advance(tok)
    assert con.allowed() == {"@7"}             # June 7; June 1 again would be one day, the teacher's term
    for tok in ("@7", ";", "<end>"):
        con.advance(tok)
    body = validate("articles", compile_ir(con.tokens, q, "articles"))
    assert body["query"]["range"]["publication_date"] == {"gte": "2026-06-01", "lte": "2026-06-07"}


def test_a_copied_single_digit_day_is_padded():
    q = "papers published before July 5, 2026"      # words: ... July = @3, 5 = @4, 2026 = @6
    con = Constraint(Context(q, "articles", ["=-07-", "=-07-01", "=-08-01"]))
    for tok in ("<q>", "range", "f:publication_date", "lt", "@6"):
        con.advance(tok)
    assert con.allowed() == {"=-07-"}          # the 1st is not the 5th, and August is not named
    for tok in ("=-07-", "@4", ";", "<end>"):
        con.advance(tok)
    body = validate("articles", compile_ir(con.tokens, q, "articles"))
    assert body["query"]["range"]["publication_date"] == {"lt": "2026-07-05"}


def test_a_month_named_alone_ends_before_the_next_month():
    q = "articles from December 2025"             # lt 2026-01-01: January is allowed only as the upper bound
    con = Constraint(Context(q, "articles", LITERALS))
    for tok in ("<q>", "range", "f:publication_date", "gte", "@3"):
        con.advance(tok)
    assert con.allowed() & set(MONTH_LITERALS) == {"=-12-01"}     # no day to copy after "=-12-"
    for tok in ("=-12-01", ";", "lt"):
        con.advance(tok)
    assert "=2026-01-01" in con.allowed() and "=2026-07-01||/d" not in con.allowed()


def test_before_a_month_ends_at_its_first_day_and_after_starts_at_the_next():
    assert dates.month_cues(_words("Robotics articles released before April 2025")) == {4: "before"}
    assert dates.month_cues(_words("papers after April 2025 or before May 16, 2026")) == {4: "after"}
    for q, op, allowed in (("papers before April 2025", "lt", {"=-04-01"}),
                           ("papers in April 2025", "lt", {"=-04-01", "=-05-01"}),   # the month's end, or its start
                           ("papers after April 2025", "gte", {"=-05-01"}), ("papers in April 2025", "gte", {"=-04-01"})):
        con = Constraint(Context(q, "articles", LITERALS))
        for tok in ("<q>", "range", "f:publication_date", op, "@3"):
            con.advance(tok)
        assert con.allowed() & set(MONTH_LITERALS) == allowed, q


def test_every_gold_query_of_the_test_set_is_a_path_of_the_grammar():
    """The date rules must not forbid what people write: every hand-written gold query stays expressible."""
    from tinyllm.nlq.evaluate import load_cases
    from tinyllm.nlq.ir import Unsupported, parse_dsl
    n = 0
    for case in load_cases("data/nlq_testset.jsonl"):
        try:
            ir = parse_dsl(case.gold, case.question)
        except Unsupported:
            continue
        con = Constraint(Context(case.question, case.index, sorted({t for t in ir if t.startswith("=")})))
        for tok in ir[:-1]:
            con.advance(tok)
        assert "<end>" in con.allowed(), case.id
        n += 1
    assert n > 120


CENTURY_LITERALS = LITERALS + [f"={y}01-01-01" for y in range(15, 21)] + ["=1800-01-01", "=1900-01-01"]


@settings(deadline=None, max_examples=40)
@given(n=st.integers(16, 20), form=st.sampled_from(["{w} century passages", "passages from the {w} century",
                                                    "{w}-century passages by Dickens"]),
       digits=st.booleans(), seed=st.integers(0, 10**6))
def test_a_named_century_bounds_every_century_boundary(n, form, digits, seed):
    """"twentieth-century passages" is 1901..2001: the round-15 student wrote 1701..1801 (test g035)."""
    word = f"{n}th" if digits else {v: k for k, v in dates.CENTURY_WORDS.items()}[n]
    q = form.format(w=word)
    assert dates.named_centuries(q) == {n}
    con = Constraint(Context(q, "gutenberg", CENTURY_LITERALS))
    for tok in ("<filter>", "range", "f:publication_date", "gte"):
        con.advance(tok)
    boundaries = {t for t in con.allowed() if t.endswith("01-01-01")}
    assert boundaries == {f"={y}-01-01" for y in dates.century_years(n) if f"={y}-01-01" in CENTURY_LITERALS}
    assert "=1800-01-01" in con.allowed()              # a date that is not a century boundary stays free
    rng, con = random.Random(seed), Constraint(Context(q, "gutenberg", CENTURY_LITERALS))
    while not con.done:                                # and any walk through the grammar writes only those
        allowed = sorted(con.allowed())
        assert allowed, f"dead end after {con.tokens}"
        con.advance(rng.choice(allowed))
    body = validate("gutenberg", compile_ir(con.tokens, q, "gutenberg"))
    for _, text in _date_bounds(body):
        if text[2:10] == "01-01-01":
            assert int(text[:4]) in dates.century_years(n), (q, text)
    assert not dates.named_centuries("passages from the 1800s, a century of novels")


def test_the_teachers_centuries_are_the_ones_their_questions_name():
    """Every distilled question that names a century by ordinal bounds its dates by that century's years (so the
    rule never blocks a teacher's answer), and there are hundreds of them (so this test can fail)."""
    import gzip
    import json
    from tinyllm.nlq.grounding import EXAMPLES_PATH
    seen = 0
    with gzip.open(EXAMPLES_PATH, "rt", encoding="utf-8") as f:
        for line in f:
            ex = json.loads(line)
            named = dates.named_centuries(ex["question"])
            if not named:
                continue
            seen += 1
            years = {y for c in named for y in dates.century_years(c)}
            for _, text in _date_bounds(ex["query"]):
                if text[2:10] == "01-01-01":
                    assert int(text[:4]) in years, (ex["question"], text)
    assert seen > 200
