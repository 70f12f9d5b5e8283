"""Date phrases -> Elasticsearch date math, defined once, plus a Python evaluator of that date math.

Every relative phrase ("last month", "past 30 days", ...) compiles here and nowhere else, so a
phrase means the same window in the template teacher, the test set and (later) the trained
translator. Windows are day-resolution, half-open [start, end) once evaluated.

`now` is frozen: the shipped data stops on 2026-07-01, so the examples and the test set anchor
relative dates there (`2026-07-01||-1M/M`). Pass `now=None` to get live `now-1M/M` instead.
Rounding follows Elasticsearch: `gte`/`lt` round down, `gt`/`lte` round up (to the unit's end).
"""
import calendar
import datetime as dt
import re
from dataclasses import dataclass

DATA_NOW = "2026-07-01"  # the newest article's day: "today" for the shipped examples and the test set

UNITS = {"d": "day", "w": "week", "M": "month", "y": "year"}
_UNIT_WORDS = {"day": "d", "week": "w", "month": "M", "year": "y"}
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
_MONTH_WORDS = {**{m.lower(): i for i, m in enumerate(MONTHS, 1)}, **{m.lower()[:3]: i for i, m in enumerate(MONTHS, 1)},
                "sept": 9}
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "nine": 9, "ten": 10, "twelve": 12, "a": 1}


@dataclass(frozen=True)
class DateWindow:
    """A compiled phrase: range bounds as date-math strings, e.g. {"gte": "now-1M/M", "lt": "now/M"}."""
    phrase: str
    bounds: tuple  # ((op, expr), ...) with op in gte/gt/lte/lt, in a fixed order

    def range_clause(self, field):
        return {"range": {field: dict(self.bounds)}}


def anchor(now):
    """The date-math anchor: `now` when live, `YYYY-MM-DD||` when frozen."""
    if now is None:
        return "now"
    if isinstance(now, (dt.date, dt.datetime)):
        now = now.strftime("%Y-%m-%d")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(now)):
        raise ValueError(f"now: expected None or a YYYY-MM-DD date, got {now!r}")
    return f"{now}||"


def _math(now, offset, unit, round_to):
    """anchor + offset (e.g. -3 months), rounded to round_to; `now-3M/d` or `2026-07-01||-3M/d`."""
    base = anchor(now)
    shift = "" if offset == 0 else f"{offset:+d}{unit}"
    return f"{base}{shift}/{round_to}"


def parse_phrase(text):
    """Recognise one date phrase; returns (kind, n, unit) or raises ValueError naming the phrase.

    kinds: today, yesterday, this (calendar unit so far), last (previous calendar unit),
    past (rolling n units up to today), ago (the calendar unit n units back).
    """
    t = " ".join(str(text).lower().replace("-", " ").split())
    if t in ("today", "so far today"):
        return ("today", 0, "d")
    if t == "yesterday":
        return ("yesterday", 1, "d")
    m = re.fullmatch(r"(?:so far )?this (day|week|month|year)(?: so far| to date)?", t)
    if m:
        return ("this", 0, _UNIT_WORDS[m.group(1)])
    m = re.fullmatch(r"(?:since the start of|year to date)(?: the)?(?: (week|month|year))?", t)
    if m:
        return ("this", 0, _UNIT_WORDS[m.group(1) or "year"])
    m = re.fullmatch(r"(?:last|previous) (week|month|year)", t)
    if m:
        return ("last", 1, _UNIT_WORDS[m.group(1)])
    m = re.fullmatch(r"(?:in )?(?:the )?(?:past|last|previous) (\w+) (day|week|month|year)s?", t)
    if m:
        return ("past", _count(m.group(1), text), _UNIT_WORDS[m.group(2)])
    m = re.fullmatch(r"(?:the )?past (day|week|month|year)", t)
    if m:
        return ("past", 1, _UNIT_WORDS[m.group(1)])
    m = re.fullmatch(r"(\w+) (day|week|month|year)s? ago", t)
    if m:
        return ("ago", _count(m.group(1), text), _UNIT_WORDS[m.group(2)])
    raise ValueError(f"date phrase: cannot interpret {text!r}")


def _numbers_beside(words, i):
    """The numbers next to word i, directly or across a ',' or 'of' ("June 20", "12 May", "May, 2025", "5 of May")."""
    out = []
    for step in (-1, 1):
        j = i + step
        if 0 <= j < len(words) and words[j] in (",", "of"):
            j += step
        if 0 <= j < len(words) and words[j].isdigit():
            out.append(int(words[j]))
    return out


def named_dates(words):
    """{month (1-12): the days named beside it} for the months a question names beside a number: "February 2026"
    -> {2: set()}, "12 May 2025" -> {5: {12}}, "August 3 and August 26" -> {8: {3, 26}}, and a day that shares
    the month, "10 and 12 May" or "May 10 to 12" -> {5: {10, 12}}. The number is what tells a month from a verb
    or a name ("I may have misspelled it", "Louisa May Alcott")."""
    out = {}
    for i, w in enumerate(words):
        near = _numbers_beside(words, i)
        if w.lower() in _MONTH_WORDS and near:
            for step in (-1, 1):             # "10 and 12 May": the day across "and" / "to" / "-" shares the month
                a, link, b = (i + step * k for k in (1, 2, 3))
                if 0 <= min(a, b) and max(a, b) < len(words) and words[a].isdigit() and words[b].isdigit() \
                        and words[link].lower() in ("and", "to", "-", "through", "until"):
                    near.append(int(words[b]))
            out.setdefault(_MONTH_WORDS[w.lower()], set()).update(n for n in near if 1 <= n <= 31)
    return out


_UNITS = r"years?|months?|weeks?|days?|quarters?|decades?|centur(?:y|ies)"
_SAYS_A_DATE = re.compile(r"\b(?:1\d{3}|20\d\d|\d{3}0s|\d+(?:st|nd|rd|th)[- ]centur|"
                          r"(?:fifteen|sixteen|seventeen|eighteen|nineteen|twentie)th|today|yesterday|recent(?:ly)?|"
                          r"latest|newest|oldest|earliest|ago|dated?|dates|" + _UNITS + "|"
                          + "|".join(m.lower() for m in MONTHS) + r"|jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec)\b",
                          re.IGNORECASE)


def says_a_date(question):
    """True when the question has a word a date filter could come from: a year, decade or century, a month, a
    unit of time ("past 3 months"), "today", "recent". Without one, a date filter is a misreading ("last three
    passages of X" is not "the last three years"); every round-13 training question with a date filter has one,
    except 10 the teacher wrote wrongly (the "most prolific" bug fixed in session 14)."""
    return _SAYS_A_DATE.search(question) is not None


CENTURY_WORDS = {"sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19, "twentieth": 20,
                 "twenty-first": 21}
_CENTURY = re.compile(r"\b(" + "|".join(CENTURY_WORDS) + r"|1[6-9]th|20th|21st)[- ]century\b", re.IGNORECASE)


def named_centuries(question):
    """The centuries a question names by ordinal ("the nineteenth century", "19th-century" -> {19})."""
    return frozenset(CENTURY_WORDS.get(m.lower()) or int(m[:2]) for m in _CENTURY.findall(question))


def century_years(n):
    """The first year of century n and of the next, as historians count: 19 -> (1801, 1901)."""
    return (n - 1) * 100 + 1, n * 100 + 1


_CUES = {("before",): "before", ("prior", "to"): "before", ("earlier", "than"): "before",
         ("after",): "after", ("later", "than"): "after"}


def month_cues(words, named=None):
    """{month: "before" | "after"} for a month named without a day right after such a word: "before April 2025"
    ends at April 1, "after April 2025" starts at May 1 (while "in April 2025" is all of April). `named`:
    named_dates(words), when the caller has it already."""
    named, out = named_dates(words) if named is None else named, {}
    for i, w in enumerate(words):
        month = _MONTH_WORDS.get(w.lower())
        if month in named and not named[month]:
            for cue, meaning in _CUES.items():
                if tuple(x.lower() for x in words[max(0, i - len(cue)):i]) == cue:
                    out[month] = meaning
    return out


def unit_letter(word):
    """The date-math unit a unit word names ("week" or "weeks" -> "w"), else None."""
    w = word.lower()
    return _UNIT_WORDS.get(w[:-1] if w.endswith("s") else w)


def pad_day(text):
    """'2026-07-5' -> '2026-07-05': a day copied from the question ("July 5") written the way dates are."""
    return re.sub(r"^(\d{4}-\d\d-)(\d)$", r"\g<1>0\2", text)


def _count(word, text):
    n = int(word) if word.isdigit() else _NUMBER_WORDS.get(word)
    if n is None or n < 1:
        raise ValueError(f"date phrase: bad number {word!r} in {text!r}")
    return n


def compile_phrase(text, now=DATA_NOW):
    """Phrase -> DateWindow with date-math bounds anchored at `now` (a YYYY-MM-DD string, or None for live)."""
    kind, n, u = parse_phrase(text)
    if kind == "today":
        bounds = (("gte", _math(now, 0, "d", "d")), ("lte", _math(now, 0, "d", "d")))
    elif kind == "yesterday":
        bounds = (("gte", _math(now, -1, "d", "d")), ("lt", _math(now, 0, "d", "d")))
    elif kind == "this":   # the calendar unit so far, up to and including today
        bounds = (("gte", _math(now, 0, u, u)), ("lte", _math(now, 0, "d", "d")))
    elif kind == "last":   # the previous whole calendar unit
        bounds = (("gte", _math(now, -1, u, u)), ("lt", _math(now, 0, u, u)))
    elif kind == "past":   # rolling: n units back, whole days, through today
        bounds = (("gte", _math(now, -n, u, "d")), ("lte", _math(now, 0, "d", "d")))
    else:                  # "ago": the calendar unit n units back
        bounds = (("gte", _math(now, -n, u, u)), ("lt", _math(now, -n + 1, u, u)))
    return DateWindow(text, bounds)


# ---------------------------------------------------------------- evaluating date math (what the engine does)

def _add(d, n, unit):
    if unit == "d":
        return d + dt.timedelta(days=n)
    if unit == "w":
        return d + dt.timedelta(weeks=n)
    months = d.year * 12 + (d.month - 1) + (n if unit == "M" else 12 * n)
    y, m = divmod(months, 12)
    return dt.date(y, m + 1, min(d.day, calendar.monthrange(y, m + 1)[1]))


def _floor(d, unit):
    if unit == "d":
        return d
    if unit == "w":
        return d - dt.timedelta(days=d.weekday())  # weeks start on Monday, as in Elasticsearch
    if unit == "M":
        return d.replace(day=1)
    return d.replace(month=1, day=1)


def evaluate(expr, now, round_up=False):
    """Evaluate day-resolution date math ("now-1M/M", "2026-07-01||+1d/d", "2025-05-10") to a date.

    round_up=True gives the first day AFTER the rounded unit (used for gt/lte, which ES rounds up),
    so every bound becomes an exclusive or inclusive day boundary of a half-open window.
    """
    if isinstance(now, str):
        now = dt.date.fromisoformat(now)
    m = re.fullmatch(r"(now|\d{4}-\d{2}-\d{2}(?:\|\|)?)((?:[+-]\d+[dwMy])*)(?:/([dwMy]))?", expr)
    if not m:
        raise ValueError(f"date math: cannot evaluate {expr!r}")
    head, ops, round_to = m.groups()
    if head == "now":
        d = now
    else:
        d = dt.date.fromisoformat(head.rstrip("|"))
        if not head.endswith("||") and (ops or round_to):
            raise ValueError(f"date math: {expr!r} needs '||' between the date and the math")
    for sign, num, unit in re.findall(r"([+-])(\d+)([dwMy])", ops):
        d = _add(d, int(num) * (1 if sign == "+" else -1), unit)
    if round_to:
        d = _floor(d, round_to)
        if round_up:
            d = _add(d, 1, round_to)
    elif round_up:
        d = d + dt.timedelta(days=1)
    return d


def window(bounds, now):
    """Range bounds (dict or DateWindow) -> half-open [start, end) in dates; None where unbounded."""
    if isinstance(bounds, DateWindow):
        bounds = dict(bounds.bounds)
    start = end = None
    for op, expr in bounds.items():
        if op == "gte":
            start = evaluate(expr, now)
        elif op == "gt":
            start = evaluate(expr, now, round_up=True)
        elif op == "lt":
            end = evaluate(expr, now)
        elif op == "lte":
            end = evaluate(expr, now, round_up=True)
        elif op not in ("format", "time_zone"):
            raise ValueError(f"range: unknown bound {op!r}")
    return start, end


def contains(bounds, day, now):
    """True if `day` (a date or YYYY-MM-DD) falls inside the evaluated window."""
    if isinstance(day, str):
        day = dt.date.fromisoformat(day[:10])
    start, end = window(bounds, now)
    return (start is None or day >= start) and (end is None or day < end)


# The phrase list the template teacher draws from (and the tests pin down), with their variety of wording.
PHRASES = (
    "today", "yesterday", "this week", "this month", "this year", "so far this year", "since the start of the month",
    "last week", "last month", "last year", "previous month", "the past week", "past 7 days", "past 30 days",
    "last 14 days", "past 3 months", "last 6 months", "past two weeks", "past year", "last 2 years",
    "in the past 90 days", "two months ago", "3 months ago", "one year ago", "1 week ago",
    "past week", "past month", "last 7 days", "last 30 days", "past 60 days", "last 3 months", "the past 2 weeks",
    "previous week", "past 14 days", "last 12 months",
)
