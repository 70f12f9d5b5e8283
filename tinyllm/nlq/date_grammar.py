"""The grammar of a date value (constrained.py asks it for the allowed tokens at a date field).

A date is a whole literal, a copied ISO date, a copied year then a literal suffix or a month literal and a copied
day, or date math around a copied number; every path ends in a date the field's format accepts. When the question
names dates ("February 2026", "before April 16, 2026"; dates.named_dates), the literals must agree with them, and a
range's second bound must leave its window non-empty: the student otherwise writes the months it saw most.
"""
import functools
import re

from . import dates
from .ir import SEP
from .validate_query import QueryRejected, _date_value


@functools.lru_cache(maxsize=1 << 16)
def _valid_date(formats, text):
    """The gate's date check, cached across questions: the same literals are checked for every question."""
    try:
        _date_value(text, "$", list(formats))
        return True
    except QueryRejected:
        return False


def date_ok(ctx, field, text, op=None, first=None):
    """`text` is a date the field accepts and, as bound `op` of a range whose other bound is `first`
    ((op, text) or None), is a later day than the lower bound: not gte 2026-03-01 with lt 2026-03-01 (empty),
    nor gte and lte the same day (one day is a term to the teacher: 0 of 3,204 distilled two-date ranges
    repeat a day, while the student copied one day twice for "between June 1 and June 7")."""
    if not _valid_date(ctx.formats[field], text):
        return False
    if first is None or not all(re.fullmatch(r"\d{4}-\d\d-\d\d", t) for t in (first[1], text)):
        return True
    lo, hi = (first[1], text) if op[0] == "l" else (text, first[1])
    return lo < hi


def era_ok(ctx, text):
    """A century the question names by ordinal bounds every century boundary (a date YY01-01-01) the value may
    be: "twentieth-century passages" is 1901..2001, never 1701..1801 (`ctx.eras`: the named centuries' first
    years and the years after their last, dates.century_years)."""
    m = re.fullmatch(r"(\d\d01)-01-01", text)
    return not (ctx.eras and m) or int(m.group(1)) in ctx.eras


def month_ok(ctx, op, literal):
    """A date literal agrees with the dates the question names (ctx.named, {month: days beside it}): no date
    math; a month named, or for an exclusive upper bound (lt) the month after a month named without a day
    ("in December 2025" ends before 2026-01-01); a day named beside that month, or the 1st of a month alone.
    A month named after "before" ends there (no lt at the next month); after "after", a lower bound (gte) starts
    at the next month (ctx.cues, dates.month_cues)."""
    if not ctx.named:
        return True
    if "||" in literal:
        return False
    m = re.fullmatch(r"=(?:\d{4})?-(\d\d)-(\d\d)?", literal)
    if not m:
        return True
    month, day = int(m.group(1)), m.group(2) and int(m.group(2))
    before = (month - 2) % 12 + 1                 # the month before this literal's
    if month in ctx.named and (ctx.cues.get(month) != "after" or op in ("lt", "lte", "gt")):
        return day is None or day in ctx.named[month] or (day == 1 and not ctx.named[month])
    return (op == "lt" and ctx.cues.get(before) != "before" or op == "gte" and ctx.cues.get(before) == "after") \
        and day in (None, 1) and ctx.named.get(before) == set()


def _math_paths(ctx, field):
    """{anchor literal: {copied number: unit suffixes}} for date math built around a copied number
    ("2026-07-01||-" @k "d/d" for "past 45 days"); only anchors with at least one valid completion. The number
    is one followed by its unit word, and the unit is that word's: "past 44 weeks" is -44w, never -44d (the
    teacher: 3,027 of 3,027 copied numbers). Any copy of the number will do ("page 2 ... the past 2 weeks": the
    examples copy the first "2")."""
    unit_of = {}                                        # number -> the unit letters written after it
    for w, u in zip(ctx.words, ctx.words[1:]):
        if dates.unit_letter(u):
            unit_of.setdefault(w, set()).add(dates.unit_letter(u))
    numbers = [(f"@{i}", w, unit_of[w]) for i, w in enumerate(ctx.words)
               if w in unit_of and re.fullmatch(r"\d{1,4}", w) and int(w) > 0]
    units = [t for t in ctx.literals if re.fullmatch(r"=[dwMy](/[dwMy])?", t)]
    out = {}
    for t in ctx.literals:
        if re.fullmatch(r"=\d{4}-\d\d-\d\d\|\|[+-]", t):
            paths = {n: frozenset(u for u in units if u[1] in unit and date_ok(ctx, field, t[1:] + w + u[1:]))
                     for n, w, unit in numbers}
            paths = {n: us for n, us in paths.items() if us}
            if paths:
                out[t] = paths
    return out


def date_value(ctx, field, taken=frozenset(), op=None, first=None):
    """A whole date literal, a copied ISO date ("2025-12-26"), a copied year (or year-month) then a literal
    suffix ("-06-01") or a literal month then a copied day ("2026" "-02-" "27"), or date math around a copied
    number ("2026-07-01||-" "45" "d/d"). Every path ends in a valid date, the month literals agree with the
    months the question names, and a range's second bound keeps its window non-empty. Returns the date text."""
    def ok(text, literal=""):    # the literal is checked against the named dates; copied words are the question's
        return month_ok(ctx, op, literal) and era_ok(ctx, text) and date_ok(ctx, field, text, op, first)
    key = (field, op if ctx.named else None, first)          # without named dates the bound does not matter
    full = ctx.memo(("date", *key), lambda: frozenset(t for t in ctx.literals if ok(t[1:], t)))
    math = {} if ctx.named else ctx.memo(("math", field), lambda: _math_paths(ctx, field))
    iso = ctx.memo(("iso", *key), lambda: frozenset(
        f"@{i}" for i, w in enumerate(ctx.words) if not re.fullmatch(r"\d{4}(-\d\d)?", w) and re.fullmatch(r"[\d-]+", w)
        and ok(w)))
    days = [(f"@{i}", w) for i, w in enumerate(ctx.words)    # "July 5": a one-digit day only beside a named month
            if re.fullmatch(r"\d\d", w) or ctx.named and re.fullmatch(r"\d", w)]

    def after_year(year):   # what may follow a copied year: suffixes, {month literal: days to copy}, nothing
        return ctx.memo(("year", year, *key), lambda: (
            frozenset(t for t in ctx.literals if not t[1:2].isdigit() and ok(year + t[1:], t)),
            {t: frozenset(d for d, w in days if ok(dates.pad_day(year + t[1:] + w), t + w.zfill(2)))
             for t in ctx.literals if t.endswith("-") and not t[1:2].isdigit()},    # the day checked with its month
            frozenset({SEP}) if ok(year) else frozenset()))

    def next_after(year):
        suffix, middle, alone = after_year(year)
        return suffix | {t for t, ds in middle.items() if ds - taken} | alone
    years = {t for t in ctx.memo("years", lambda: frozenset(
        f"@{i}" for i, w in enumerate(ctx.words) if re.fullmatch(r"\d{4}(-\d\d)?", w))) - taken
        if next_after(ctx.words[int(t[1:])])}                                 # only years with a valid completion
    math = {t: paths for t, paths in math.items() if set(paths) - taken}     # anchors with a number still free
    tok = yield full | iso - taken | years | set(math)
    if tok in full or tok in iso:
        yield {SEP}
        return tok[1:] if tok in full else ctx.words[int(tok[1:])]
    if tok in math:
        number = yield set(math[tok]) - taken
        yield math[tok][number]
        yield {SEP}
        return None
    year = ctx.words[int(tok[1:])]
    suffix, middle, _ = after_year(year)
    tok = yield next_after(year)
    if tok in suffix:
        yield {SEP}
        return year + tok[1:]
    if tok != SEP:
        day = yield middle[tok] - taken
        yield {SEP}
        return dates.pad_day(year + tok[1:] + ctx.words[int(day[1:])])
    return year


def can_date(ctx, field, taken, op=None, first=None):
    """A date value can follow (there may be none: every literal disagreeing with the dates the question names)."""
    key = ("can", field, op if ctx.named else None, first, taken)
    return ctx.memo(key, lambda: bool(next(date_value(ctx, field, taken, op, first))))
