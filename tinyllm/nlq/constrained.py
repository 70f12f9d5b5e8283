"""Grammar-constrained decoding of the IR: at every step only tokens that keep the output a valid IR prefix.

The grammar is a Python generator: it yields the set of allowed next tokens and receives the chosen one, so it
walks the same IR grammar as ir.py/compiler.py while knowing the index's mapping: a term may only name a
keyword/numeric/date field, match only a text field, range only date/numeric, sort and aggregations only exact
fields; sizes are bounded integers; date values follow date_grammar.py (valid, and agreeing with the dates named);
a quoted span of the question is copied whole, and if it has two or more words only into a phrase or exact value.
Every finished sequence therefore compiles to a body the safety gate accepts (tested with random weights).
"""
import re

import numpy as np

from . import dates, schema
from .date_grammar import can_date, date_value
from .ir import END, SEP, words
from .ir_head import ir_head
from .quotes import quoted_spans, span_of
from .values import HONORIFICS, STOPWORDS
from .windows import page_words

MAX_CLAUSES, MAX_PIECES, MAX_TERMS, MAX_SORTS, MAX_FIELDS = 6, 16, 3, 2, 3   # 6: three filters, a negation, two should
EXACT = ("keyword", "numeric", "date")
OP_KINDS = {"term": EXACT, "terms": EXACT, "match": ("text",), "match_phrase": ("text",), "range": ("numeric", "date"),
            "exists": ("text", "keyword", "numeric", "date")}
AGG_KINDS = {"agg:terms": ("keyword", "numeric"), "agg:date_histogram": ("date",), "agg:histogram": ("numeric",),
             "agg:cardinality": EXACT, "agg:min": ("numeric", "date"), "agg:max": ("numeric", "date"),
             "agg:avg": ("numeric",), "agg:sum": ("numeric",), "agg:stats": ("numeric",)}
PSEUDO = ("<next>", "<more>")
PSEUDO_SET = frozenset(PSEUDO)
STRUCT_TOKENS = ("<q>", "<must>", "<filter>", "<should>", "<must_not>", *OP_KINDS, "multi_match", "match_all", "gte",
                 "gt", "lte", "lt", "and", "fuzzy", "msm", "sort", "asc", "desc", "size", "from", "tth", *AGG_KINDS,
                 "asize", "top_hits", "tsrc", "ival:year", "ival:month", "ival:week", "ival:day", "ival:quarter", "mdc",
                 "hival", "src", "hl", "type:phrase", SEP, END)     # every real token the grammar can ask for, besides f:, @ and =


class Context:
    """What the grammar needs to know about one (question, index): field kinds, words, literal classes, and the
    dates the question names ({month: days named beside it}, dates.named_dates)."""

    def __init__(self, question, index, literals):
        info = schema.field_info(index)
        self.kind = {f: "numeric" if p.get("type") in schema.NUMERIC_TYPES else p.get("type") for f, p in info.items()}
        self.searchable = {f for f, p in info.items() if p.get("index", True) is not False}
        self.formats = {f: tuple(schema.date_format(index, f).split("||")) for f, k in self.kind.items() if k == "date"}
        self.words = [w for w, _, _ in words(question)]
        self.named = dates.named_dates(self.words)
        self.cues = dates.month_cues(self.words, self.named)
        self.dated = dates.says_a_date(question)            # no date word: no date filter
        self.eras = frozenset(y for n in dates.named_centuries(question) for y in dates.century_years(n))
        self.paging = frozenset(f"@{i}" for i in page_words(self.words))     # "second page", "10 per page"
        self.literals = [t for t in literals if t.startswith("=")]
        self.span = span_of(quoted_spans(question))           # {word: its quoted span (i, j)}, quotes.py
        self.phrases = frozenset(f"@{i}" for i, j in set(self.span.values()) if j > i)   # starts of 2+ word spans
        self._fields = {}

    def spellings(self, tok):
        """The copy and literal tokens that write the same one-word value as `tok` (`@3` for "eess.IV" and the
        literal `=eess.IV`, either way round), case aside."""
        text = (self.words[int(tok[1:])] if tok[0] == "@" else tok[1:]).lower()
        return self.memo(("spell", text), lambda: frozenset(
            {f"@{i}" for i, w in enumerate(self.words) if w.lower() == text}
            | {t for t in self.literals if t[1:].lower() == text}))

    def memo(self, key, compute):
        """A derived token set, computed once per question (replays ask for the same sets many times)."""
        if key not in self._fields:
            self._fields[key] = compute()
        return self._fields[key]

    def fields(self, kinds, searchable=True):
        return self.memo((tuple(kinds), searchable), lambda: frozenset(
            f"f:{f}" for f, k in self.kind.items() if k in kinds and (f in self.searchable or not searchable)))


def _int_value(ctx, lo, hi, taken=frozenset()):
    yield ctx.memo(("int", lo, hi), lambda: frozenset(
        {f"@{i}" for i, w in enumerate(ctx.words) if w.isdigit() and lo <= int(w) <= hi}
        | {t for t in ctx.literals if t[1:].isdigit() and lo <= int(t[1:]) <= hi})) - taken
    yield {SEP}


def _str_value(ctx, taken=frozenset(), phrase=True, searched=False, text=False):
    """Copies and literals. Copied words run left to right without gaps (`@4 @5`, never `@5 @5` or `@5 @2`),
    as in every training value; a literal may bridge a gap, and the copy after it is a later word (`@1 =  @3`,
    never `@1 =  @1`). A value does not start by copying bare punctuation or a `taken` word.
    A quoted span (quotes.py) is copied whole or not at all, never run into or out of; one of two or more
    words only where `phrase` (a phrase search or an exact value, not a `match` of any of its words).
    A `searched` phrase (match_phrase) neither starts on a stop word other than an honorific ("of rest" of "days
    of rest"; 0 of 7,799 round-17 phrases but "miss taylor") nor ends on one while the next word could follow
    ("pirates and"), and a `text` value is not one stop word ("the", "in"; no round-15 text value is): a stop word
    starts one only where the next word may follow. A quoted span is copied as quoted."""
    def first(alone, lead=False):   # `alone`: this copy may be the whole value; `lead`: a searched phrase's start
        inside = {f"@{w}" for w, (i, _) in ctx.span.items() if w != i}      # a span is entered at its start
        stops = {i for i, w in enumerate(ctx.words) if w.lower() in STOPWORDS and i not in ctx.span}
        lone = {f"@{i}" for i in stops if not can_follow(i)} if alone else set()
        lead = {f"@{i}" for i in stops if ctx.words[i].lower() not in HONORIFICS} if lead else set()
        return (starts - inside - (frozenset() if phrase else ctx.phrases) - taken - lone - lead) | (strs - taken)

    def can_follow(k):      # may word k + 1 be copied right after word k? (not across a quote mark that opens a span)
        return (k + 1 < len(ctx.words) and k not in ctx.span and k + 1 not in ctx.span and f"@{k + 1}" not in taken
                and not (k + 2 in ctx.span and ctx.span[k + 2][0] == k + 2 and not re.search(r"\w", ctx.words[k + 1])))

    def after_copy(k):
        if k in ctx.span and k < ctx.span[k][1]:
            return frozenset({f"@{k + 1}"} - taken) or frozenset({SEP})     # inside a span: on to its end
        nxt, stop = can_follow(k), ctx.words[k].lower() in STOPWORDS and k not in ctx.span
        end = set() if nxt and stop and (searched or text and k == start) else {SEP}
        return frozenset(end | strs | ({f"@{k + 1}"} if nxt else set()) - taken)

    starts = ctx.memo("starts", lambda: frozenset(f"@{i}" for i, w in enumerate(ctx.words) if re.search(r"\w", w)))
    strs = ctx.memo("strs", lambda: frozenset(ctx.literals))
    # the sets hold every literal (hundreds): built once per question and `taken`, then yielded as the same objects
    def after_literal(spaced, last):      # a copy of a later word, or the end unless the literal ends in a space
        later = {t for t in ctx.memo(("first", taken, phrase, False), lambda: first(False)) - strs if int(t[1:]) > last}
        return frozenset((set() if spaced else {SEP}) | later) or frozenset({SEP})

    tok, last = (yield ctx.memo(("first", taken, phrase, text, searched), lambda: first(text, searched))), -1
    start = int(tok[1:]) if tok.startswith("@") else None                    # the word a copied value starts on
    for _ in range(MAX_PIECES - 1):
        if tok.startswith("@"):
            k = last = int(tok[1:])
            allowed = ctx.memo(("after", k, taken, searched, text and k == start), lambda: after_copy(k))
        else:       # after a literal ("=Charlotte ", "= ")
            spaced = tok[-1].isspace()
            allowed = ctx.memo(("next", taken, phrase, spaced, last), lambda: after_literal(spaced, last))
        tok = yield allowed
        if tok == SEP:
            return
    yield {SEP}


def _value(ctx, field, taken, op=None, first=None, phrase=True, searched=False):
    kind = ctx.kind[field]
    if kind == "numeric":
        return _int_value(ctx, 0, 10**9, taken)
    if kind == "date":
        return date_value(ctx, field, taken, op, first)
    return _str_value(ctx, taken | ctx.paging, phrase, searched, kind == "text")   # a page's words: where, not what


def _copies(grammar, seen, ctx=None):
    """Pass a sub-grammar's allowed sets through unchanged, adding to `seen` every copy token (@i) it is sent and,
    given `ctx`, every literal that is a whole value of a term/terms clause on a keyword or number field
    (`=64317`, `=cs.RO`): a later clause may use neither. The same filter twice is redundant, and in a must_not
    it contradicts the first (1 of 53,273 round-12 training targets repeats a filter; none contradicts one); a
    one-word value copied from the question and the same value written as a literal are the same filter."""
    sent = []
    try:
        allowed = next(grammar)
        while True:
            tok = yield allowed
            if tok.startswith("@"):
                seen.add(tok)
            elif (ctx is not None and tok == SEP and len(sent) >= 3 and sent[0] in ("term", "terms")
                  and sent[-1][0] in "=@" and (sent[-2] == SEP or sent[-2].startswith("f:"))
                  and ctx.kind[sent[1][2:]] != "date"):
                seen |= ctx.spellings(sent[-1])
            sent.append(tok)
            allowed = grammar.send(tok)
    except StopIteration:
        return


def _fields_for(ctx, op, taken):
    """The fields `op` may name here: a date field only if a date value can follow."""
    bounds = ("gte", "gt", "lte", "lt") if op == "range" else (None,)
    return {f for f in ctx.fields(OP_KINDS[op]) if op == "exists" or ctx.kind[f[2:]] != "date"
            or ctx.dated and any(can_date(ctx, f[2:], taken, b) for b in bounds)}


def _clause(ctx, taken=frozenset()):
    """After an occurrence token: OP [f:F] ARGS. Yields allowed sets; returns nothing. A question word copied by
    an earlier clause (`taken`) is not copied again: each word of a question plays one part in it; nor is a
    literal an earlier term clause took whole (see _copies)."""
    op = yield {op for op in OP_KINDS if _fields_for(ctx, op, taken)} | {"multi_match", "match_all"}
    if op == "match_all":
        return
    if op == "multi_match":
        copied = set()
        yield from _copies(_str_value(ctx, taken), copied)
        text, used = ctx.fields(("text",)), set()
        tok = yield text
        used.add(tok)
        end = {"type:phrase"} | (set() if copied & ctx.phrases else {"<next>"})     # a quoted phrase stays one
        while True:
            tok = yield ((text - used) if len(used) < MAX_FIELDS else set()) | end
            if tok in ("type:phrase", "<next>"):
                return
            used.add(tok)
    field = (yield _fields_for(ctx, op, taken))[2:]
    if op == "exists":
        return
    if op == "range":
        bounds, first = ["gte", "gt", "lte", "lt"], None
        while True:
            tok = yield ({b for b in bounds if ctx.kind[field] != "date" or can_date(ctx, field, taken, b, first)}
                         | ({"<next>"} if len(bounds) < 4 else set()))
            if tok == "<next>":
                return
            bounds = [b for b in bounds if b[0] != tok[0]]        # one lower (gt/gte) and one upper (lt/lte)
            text = yield from _value(ctx, field, taken, tok, first)
            first = (tok, text) if isinstance(text, str) else None
    yield from _value(ctx, field, taken, phrase=op != "match", searched=op == "match_phrase")
    if op == "terms":
        for _ in range(MAX_TERMS - 1):
            tok = yield {"<next>", "<more>"}
            if tok == "<next>":
                return
            yield from _value(ctx, field, taken)
        return
    if op == "match":
        tok = yield {"and", "fuzzy", "<next>"}
        if tok == "and":
            yield {"fuzzy", "<next>"}


def ir_grammar(ctx):
    """Generator: yields allowed next-token sets; `<next>`/`<more>` are pseudo-tokens meaning "whatever
    follows" / "another value" (expanded by Constraint). Ends after <end>."""
    occs = ["<must>", "<filter>", "<should>", "<must_not>"]
    n, should, taken = 0, 0, set()           # taken: words copied, and whole term literals, by the clauses so far
    tok = yield {"<q>", *occs, "<next>"}
    if tok == "<q>":
        yield from _clause(ctx)
        n = 1
    while tok != "<q>" and tok != "<next>" and n < MAX_CLAUSES:
        should += tok == "<should>"
        occs = occs[occs.index(tok):]                          # canonical order: must, filter, should, must_not
        yield from _copies(_clause(ctx, frozenset(taken)), taken, ctx)
        n += 1
        tok = yield set(occs if n < MAX_CLAUSES else ()) | {"<next>"}
    tok = yield {"msm", "<next>"} if should else {"<next>"}
    if tok == "msm":
        yield from _int_value(ctx, 1, should)
    exact = ctx.fields(EXACT)
    for _ in range(MAX_SORTS):
        tok = yield {"sort", "<next>"}
        if tok != "sort":
            break
        yield exact
        yield {"asc", "desc"}
    for key, hi in (("size", 100), ("from", 9900)):
        if (yield {key, "<next>"}) == key:
            yield from _int_value(ctx, 0, hi)
    yield {"tth", "<next>"}
    yield from _agg(ctx)
    used = set()
    for key, kinds in (("src", ("text", "keyword", "numeric", "date")), ("hl", ("text",))):
        while (yield ({key} if ctx.fields(kinds, searchable=key == "hl") - used else set()) | {"<next>"}) == key:
            tok = yield ctx.fields(kinds, searchable=key == "hl") - used
            used.add(tok)
    yield {END}


def _agg(ctx):
    tok = yield {k for k, kinds in AGG_KINDS.items() if ctx.fields(kinds)} | {"<next>"}
    if tok == "<next>":
        return
    yield ctx.fields(AGG_KINDS[tok])
    if tok == "agg:terms":
        if (yield {"asize", "<next>"}) == "asize":
            yield from _int_value(ctx, 1, 100)
        if (yield {"top_hits", "<next>"}) == "top_hits":
            if (yield {"size", "<next>"}) == "size":
                yield from _int_value(ctx, 1, 10)
            for _ in range(MAX_SORTS):
                if (yield {"sort", "<next>"}) != "sort":
                    break
                yield ctx.fields(EXACT)
                yield {"asc", "desc"}
            while (yield {"tsrc", "<next>"}) == "tsrc":
                yield ctx.fields(("text", "keyword", "numeric", "date"), searchable=False)
    elif tok == "agg:date_histogram":
        yield {"ival:year", "ival:month", "ival:week", "ival:day", "ival:quarter"}
        if (yield {"mdc", "<next>"}) == "mdc":
            yield from _int_value(ctx, 0, 1)
    elif tok == "agg:histogram":
        yield {"hival"}
        yield from _int_value(ctx, 1, 10**9)


def _real(options):
    """The real tokens of an options set (the same object when it holds no pseudo-token: no copy of big sets)."""
    return options if PSEUDO_SET.isdisjoint(options) else options - PSEUDO_SET


class Constraint:
    """Tracks one decoding: `allowed()` is the set of real tokens that may come next, `advance(tok)` commits one.

    The grammar's optional parts are marked with pseudo-tokens; the path of choices (pseudo-tokens included) is
    replayed into a fresh generator to look ahead, which keeps the grammar a plain readable generator."""

    def __init__(self, ctx):
        self.ctx, self.path, self.tokens, self._cache, self._live = ctx, [], [], {}, {}

    def _options(self, path):
        """The grammar's allowed set after `path`. A generator left positioned at the parent path (by an earlier
        call) is resumed with one send instead of replaying the whole path: the look-ahead over optional parts
        (path + <next> + <next> ...) then costs one step per level, not one replay per level."""
        key = tuple(path)
        if key not in self._cache:
            g = self._live.pop(key[:-1], None) if key else None
            try:
                if g is not None:
                    s = g.send(key[-1])
                else:
                    g = ir_grammar(self.ctx)
                    s = next(g)
                    for t in path:
                        s = g.send(t)
                self._live[key] = g
            except StopIteration:
                s = set()
            self._cache[key] = frozenset(s)
        return self._cache[key]

    def _walk(self):
        """[(path, options)] for the current position and each position reachable by skipping optional parts,
        memoised per path (beam search asks at the same position for the allowed ids, then to advance)."""
        key = ("<walk>", *self.path)
        if key not in self._cache:
            walk, path = [], list(self.path)
            while True:
                s = self._options(path)
                walk.append((path, _real(s)))
                if "<more>" in s:
                    walk.append((path + ["<more>"], _real(self._options(path + ["<more>"]))))
                if "<next>" not in s:
                    break
                path = path + ["<next>"]
            self._cache[key] = walk
        return self._cache[key]

    def allowed(self):
        return set().union(*(s for _, s in self._walk()))

    def allowed_ids(self, stoi):
        """allowed() as a sorted id array (tokens missing from `stoi` dropped), memoised per path; each look-ahead
        level's set is converted once per question: the same sets (field names, next copies) recur at many steps."""
        key = ("<ids>", *self.path)
        if key not in self._cache:
            memo = self._cache.setdefault("<ids>", {})
            parts = []
            for _, s in self._walk():
                if s not in memo:
                    memo[s] = np.array(sorted(stoi[t] for t in s if t in stoi), dtype=np.int64)
                parts.append(memo[s])
            self._cache[key] = parts[0] if len(parts) == 1 else np.unique(np.concatenate(parts))
        return self._cache[key]

    def fork(self):
        """An independent copy at the same position (beam search); the look-ahead cache is shared."""
        twin = Constraint(self.ctx)
        twin.path, twin.tokens, twin._cache, twin._live = list(self.path), list(self.tokens), self._cache, self._live
        return twin

    def advance(self, tok):
        for path, s in self._walk():
            if tok in s:
                self.path, self.tokens = path + [tok], self.tokens + [tok]
                return
        raise ValueError(f"token {tok!r} is not allowed after {self.tokens}")

    @property
    def done(self):
        return bool(self.tokens) and self.tokens[-1] == END


def decode(model, vocab, question, index, rng=None, prompt=None):
    """IR tokens for (question, index): greedy under the grammar mask (or sampled from `rng`, for tests).
    `prompt` (ids) replaces `vocab.prompt(question, index)`, e.g. with retrieved examples before the question
    (rag.py); copies `@i` still point into `question`'s words."""
    from tinyllm.sampling.generate import generate
    from tinyllm.sampling.logits import SamplingConfig
    prompt = vocab.prompt(question, index) if prompt is None else list(prompt)
    budget = model.config.block_size - len(prompt)
    if budget < 2:
        raise ValueError("question too long for the model's context")
    con = Constraint(Context(question, index, vocab.literals))

    def mask(out_ids, logits):
        for i in out_ids[len(con.tokens):]:
            con.advance(vocab.itos[i])
        allowed = con.allowed_ids(vocab.stoi)
        if not len(allowed):        # a vocabulary without any token the grammar allows here: a dead end, say so
            raise ValueError(f"no token of the model's vocabulary can continue {con.tokens[-6:]}")
        masked = np.full(logits.shape, -np.inf, dtype=logits.dtype)
        masked[allowed] = logits[allowed]
        return masked

    cfg = SamplingConfig(temperature=0.0) if rng is None else SamplingConfig(temperature=1.0)
    ids = generate(ir_head(model, vocab), prompt, budget, cfg, rng=rng, stop_ids={vocab.stoi[END]}, logits_fn=mask)
    for i in ids[len(con.tokens):]:
        con.advance(vocab.itos[i])
    if len(ids) >= budget:
        raise ValueError("the translation did not finish within the model's context")
    return con.tokens + [END]
