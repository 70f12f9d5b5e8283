"""The NLQ translator interface: `Translator.load(path).translate(question, index) -> search body`.

Every body it returns has passed the safety gate (`validate`). Questions it cannot answer raise CannotTranslate
with a reason, so callers (CLI, HTTP service) can answer "cannot translate" instead of running a wrong query.
Until a trained checkpoint exists at `path` (default `data/nlq_model/`, or env TINYLLM_NLQ_MODEL), it falls back
to the keyword baseline and says so in `Translator.kind`.
"""
import os
import re
from pathlib import Path

from . import baseline, grounding, schema
from .compounds import phrase_compounds
from .either import either_or, mentions
from .inflections import one_form
from .ir import words
from .quotes import missing, quoted_texts
from .validate import QueryRejected, validate
from .windows import windows

DEFAULT_PATH = schema.DATA_DIR / "nlq_model"
MAX_QUESTION_CHARS = 1000


class CannotTranslate(ValueError):
    """The question is out of scope, unanswerable, or bad input; `reason` says which in plain words."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def check_question(question, index):
    """Reject bad input early with a reason naming the argument (empty, too long, not text, unknown index)."""
    if not isinstance(question, str):
        raise CannotTranslate(f"question must be a string, got {type(question).__name__}")
    if not question.strip():
        raise CannotTranslate("question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise CannotTranslate(f"question is longer than {MAX_QUESTION_CHARS} characters ({len(question)})")
    if index not in schema.INDEXES:
        raise CannotTranslate(f"index must be one of {list(schema.INDEXES)}, got {index!r}")


class Translator:
    """Question -> validated search body, backed by the trained model (or the keyword baseline if none)."""

    def __init__(self, model=None, path=None, scope=None):
        self.model, self.path = model, path
        self.kind = "model" if model is not None else "keyword-baseline (no trained checkpoint found)"
        self.values = grounding.index_values() if model is not None else {}  # keyword spellings, for grounding
        self.scope = scope    # a Scope (scope.py): off-topic and unanswerable questions are refused first

    @classmethod
    def load(cls, path=None):
        """Load the checkpoint at `path` (default data/nlq_model/): a plain NLQModel, a RAGModel when the
        directory holds rag.json, an EnsembleModel when it holds ensemble.json; without one, the keyword baseline."""
        path = Path(path) if path is not None else Path(os.environ.get("TINYLLM_NLQ_MODEL", DEFAULT_PATH))
        if not (path / "manifest.json").exists():
            if path != DEFAULT_PATH:
                raise FileNotFoundError(f"no NLQ model checkpoint at {path} (expected manifest.json there; "
                                        f"train one with scripts/train_nlq.py)")
            return cls(None, path)
        from .nlq_model import NLQModel       # imported lazily: the baseline path needs no model code
        from .ensemble import ENSEMBLE_FILE, EnsembleModel
        from .rag import RAG_FILE, RAGModel
        from .scope import DEFAULT_PATH as SCOPE_PATH, Scope
        scope = Scope.load(SCOPE_PATH) if SCOPE_PATH.exists() else None
        kind = RAGModel if (path / RAG_FILE).exists() else NLQModel     # rag.json marks a retrieval-augmented one
        kind = EnsembleModel if (path / ENSEMBLE_FILE).exists() else kind   # ensemble.json: several seeds
        return cls(kind.load(path), path, scope)

    def translate(self, question, index, search=None):
        """A validated search body for `question` on `index`; CannotTranslate when off topic or unanswerable.
        With `search` ((index, body) -> response), the execution check runs too (see execution_check)."""
        check_question(question, index)
        why = self.scope.refusal(question, index) if self.scope is not None else None   # scope.py: two checks
        if why:
            raise CannotTranslate(why)
        if self.model is None:
            body = baseline.translate(index, question)
        else:
            body = self.model.translate(question, index)    # raises CannotTranslate itself when it abstains
        body = self._finish(question, index, body)
        if self.model is not None:
            body = self.verbatim_check(question, index, body)
            body = self.cue_check(question, index, body)
            body = self.negation_check(question, index, body, search)
        return body if search is None else self.execution_check(question, index, body, search)

    def _finish(self, question, index, body):
        if self.model is not None:
            body = grounding.codes_to_filters(index, body, self.values)    # a code is filed, never a title word
            body = grounding.ground(index, body, self.values, question)  # "robotics" -> "Robotics", spans, surnames
            body = either_or(body, question)                    # "either speech or audio": both, one required
            body = one_form(body, question)                     # "surveys ... the word survey": survey, once
        try:
            body = windows(question, body)                      # "results 21 to 25": from 20, size 5
            return phrase_compounds(validate(index, body))   # "vision-language" is searched as a phrase
        except QueryRejected as e:         # cannot happen by construction; kept as the last line of defence
            raise CannotTranslate(f"the translated query failed the safety gate: {e}") from None

    def verbatim_check(self, question, index, body):
        """`body`, or when it leaves out a value the question spells verbatim (a quoted span, or a category code
        outside a filter on the code field: quotes.dropped's rule; a category named in words, kept by name, code or
        as words), the model's best other candidate that keeps them all; `body` if none does. A code searched for
        as a title word ("econ.EM") finds nothing it names; cs.LG with "Machine Learning" names one area twice."""
        fields = grounding.CODE_FIELDS.get(index, ())
        codes = {low for field in fields for low in self.values.get((index, field), ())}
        quoted = quoted_texts(question)
        spelled = [w for w, _, _ in words(question) if w.lower() in codes]

        named = grounding.named_categories(question, grounding.category_codes()) if index == "articles" else []
        named = [(n, cs) for n, cs in named if " " in n or capitalised(n, question)]   # "image": a word to search

        def keeps_all(b):
            filed = {str(v).lower() for v in grounding.keyword_values(index, b, fields)}
            return not missing(quoted, b) and all(c.lower() in filed for c in spelled) and all(
                mentions(b, name) or any(mentions(b, c.lower()) for c in cs) for name, cs in named)
        return body if keeps_all(body) else self._first_other(question, index, keeps_all, body)

    def cue_check(self, question, index, body):
        """`body`, or when it ignores what the wording states (cues.py: the field to look in, "with mamba in the
        title"; both ends of a span, "between 2025-04-07 and 2025-04-26"), the model's best other candidate that
        honours it; `body` if none."""
        from .cues import consistent
        ok = lambda b: consistent(b, question)              # noqa: E731
        return body if ok(body) else self._first_other(question, index, ok, body)

    def negation_check(self, question, index, body, search=None):
        """`body`, or when it puts a value the question names on the wrong side of a negation (negations.py:
        excludes what is not negated, requires what is), the model's best other candidate that does not; `body`
        if none. Without `search` a book is judged by nothing (its titles need the engine)."""
        from .negations import consistent

        def names(field, value):
            if field == "book_id" and search is None:
                return []
            try:
                return names_of(index, field, value, search)
            except Exception:   # noqa: BLE001 - the engine failing a title lookup: judge the book by nothing
                return []
        ok = lambda b: consistent(b, question, names)        # noqa: E731
        return body if ok(body) else self._first_other(question, index, ok, body)

    def _first_other(self, question, index, ok, body):
        """The model's best candidate (CHECK_WIDTH of them, finished as translations are) for which `ok` holds,
        else `body`."""
        from .nbest import CHECK_WIDTH
        for alt in self.model.candidates(question, index, CHECK_WIDTH):
            try:
                alt = self._finish(question, index, alt)
            except CannotTranslate:
                continue
            if ok(alt):
                return alt
        return body

    def execution_check(self, question, index, body, search):
        """`body` (this translator's answer), or, when it finds nothing, the model's best other candidate
        that finds something (nbest.py; the keyword baseline has no candidates). A single filter the question
        states outright (nbest.stated_filter) is kept as it is: its empty result is the answer."""
        from .nbest import CHECK_WIDTH, execution_check, is_empty, stated_exclusion, stated_filter, without_exclusions
        if self.model is None or stated_filter(index, body, question):
            return body

        def keep_empty():       # "not from B" and only that exclusion empties the search: none is the answer
            return (stated_exclusion(body, question, lambda f, v: names_of(index, f, v, search))
                    and not is_empty(search(index, without_exclusions(body))))
        candidates = self.model.candidates
        return execution_check(index, body, lambda: (self._finish(question, index, b)
                                                     for b in candidates(question, index, CHECK_WIDTH)), search,
                               keep_empty)


def capitalised(word, question):
    """True when `question` writes `word` with a capital letter somewhere after its first character ("in both
    Robotics and ..."): a name, where a lower-case "robotics" or "image" may be a word to search for."""
    return any(m.start() > 0 and question[m.start()].isupper()
               for m in re.finditer(r"(?<!\w)" + re.escape(word) + r"(?!\w)", question, re.IGNORECASE))


def names_of(index, field, value, search):
    """How a question may name a filed value: itself; a person also by surname; a book_id by its titles."""
    if field == "book_id":
        from .grammar_gutenberg import book_names
        hits = search(index, {"size": 1, "query": {"term": {"book_id": value}}, "_source": ["title"]})["hits"]
        hits = hits["hits"] if isinstance(hits, dict) else hits     # a raw response, or summary.result_of's
        return book_names(hits[0]["_source"]["title"]) if hits else []
    if (index, field) in grounding.PEOPLE:
        return [str(value), str(value).split()[-1]]
    return [str(value)]


_DEFAULT = None


def translate(index, question):
    """(index, question) -> body with the default translator: the signature `tinyllm nlq eval/translate` use."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Translator.load()
    return _DEFAULT.translate(question, index)
