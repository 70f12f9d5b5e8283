"""`tinyllm nlq ask "question"`: translate one question, run the query, print it and a readable summary.

    tinyllm nlq ask "how many robotics papers are there?"          # index guessed from the question
    tinyllm nlq ask --index gutenberg "passages about the white whale" --json

Works from a fresh install: without --es-url / TINYLLM_ES_URL it starts the embedded engine and loads the one
index it needs (with progress; a minute or two on a busy 2-core machine). To pay that once for many questions, run
`tinyllm nlq load --serve` in another shell and export the TINYLLM_ES_URL it prints.
Exit codes: 0 answered, 1 cannot translate, 2 bad input, 3 the search engine failed.
"""
import argparse
import gzip
import json
import re
import sys
from functools import lru_cache

from . import schema
from .summary import format_result, result_of
from .translator import MAX_QUESTION_CHARS, CannotTranslate, Translator
from .validate import QueryRejected, validate

# Words that point at one index. A category code like cs.CL also counts for articles; a Gutenberg author's full
# name or a book title counts double for gutenberg. Ties go to articles, the larger index.
ARTICLE_CUES = frozenset("paper papers article articles arxiv preprint preprints abstract abstracts research "
                         "researcher researchers category categories coauthor coauthors co-author co-authors "
                         "study studies publication publications".split())
BOOK_CUES = frozenset("book books novel novels passage passages chapter chapters gutenberg story stories "
                      "literature classic classics novelist play poem".split())
CATEGORY_CODE = re.compile(r"\b[a-z][a-z-]*\.[A-Z]{2}\b")       # cs.CL, math.OC, q-bio.NC
EXIT_CANNOT_TRANSLATE, EXIT_BAD_INPUT, EXIT_ENGINE = 1, 2, 3


@lru_cache(maxsize=1)
def gutenberg_names():
    """(author full names, author surnames, book titles) of the shipped gutenberg data, for guess_index."""
    authors, titles = set(), set()
    with gzip.open(schema.DATA_DIR / "gutenberg.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            authors.add(doc["author"])
            titles.add(re.split(r"[:;]", doc["title"])[0].strip().lower())   # "Moby-Dick; or, The Whale" -> moby-dick
    surnames = {a.split()[-1] for a in authors}
    return frozenset(a.lower() for a in authors), frozenset(surnames), frozenset(titles)


def guess_index(question):
    """(index, reason): the index the question is about, from cue words, category codes and Gutenberg names.

    Scores: +1 per cue word of an index, +1 per category code (articles), +2 per Gutenberg author's full name or
    book title, +1 per capitalised Gutenberg surname. The higher score wins; a tie (usually 0:0) means articles.
    """
    lowered = question.lower()
    words = re.findall(r"[\w-]+", lowered)
    art = [w for w in words if w in ARTICLE_CUES] + CATEGORY_CODE.findall(question)
    full_names, surnames, titles = gutenberg_names()
    book = [w for w in words if w in BOOK_CUES]
    book += 2 * [n for n in sorted(full_names | titles) if re.search(rf"(?<!\w){re.escape(n)}(?!\w)", lowered)]
    book += [w for w in re.findall(r"\b[A-Z][\w-]+", question) if w in surnames]
    if len(book) > len(art):
        return "gutenberg", f"matched {', '.join(dict.fromkeys(book))}"
    if art:
        return "articles", f"matched {', '.join(dict.fromkeys(art))}"
    return "articles", "no cue either way; articles is the default"


def connect_backend(es_url=None, api_key=None, basic_auth=None, verify_certs=True):
    """A Backend for `es_url` (or TINYLLM_ES_URL), else the embedded engine; `basic_auth` is "user:password"."""
    from .backend import connect          # imported here so `--translate-only` needs no engine
    auth = None
    if basic_auth:
        if ":" not in basic_auth:
            raise ValueError("--basic-auth must be user:password")
        auth = tuple(basic_auth.split(":", 1))
    return connect(es_url, api_key=api_key, basic_auth=auth, verify_certs=verify_certs)


def check_input(question):
    """The question as given, or ValueError naming the problem (empty, too long, not UTF-8)."""
    if not question.strip():
        raise ValueError("question is empty")
    try:
        question.encode("utf-8")
    except UnicodeEncodeError:              # argv bytes that were not UTF-8 arrive as lone surrogates
        raise ValueError("question is not valid UTF-8 text (check the terminal's encoding)") from None
    if len(question) > MAX_QUESTION_CHARS:
        raise ValueError(f"question is longer than {MAX_QUESTION_CHARS} characters ({len(question)})")
    return question


def run_query(backend, index, body):
    """Validate `body` once more (the gate is cheap and this is the last step before the engine) and run it."""
    return result_of(backend.search(index, validate(index, body)))


def build_parser():
    p = argparse.ArgumentParser(prog="tinyllm nlq ask", description=__doc__.split("\n")[0],
                                epilog=__doc__.split("\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("question", nargs="+", help="the question (quotes optional)")
    p.add_argument("--index", choices=schema.INDEXES, default=None,
                   help="index to search (default: guessed from the question; articles when unsure)")
    p.add_argument("--json", action="store_true", help="print one JSON object {index, query, result} instead")
    p.add_argument("--translate-only", action="store_true", help="print the query without running it (no engine)")
    p.add_argument("--model", default=None, metavar="DIR", help="translator checkpoint (default data/nlq_model/)")
    p.add_argument("--es-url", default=None, help="Elasticsearch URL (default: env TINYLLM_ES_URL, else embedded)")
    p.add_argument("--api-key", default=None, help="API key for --es-url")
    p.add_argument("--basic-auth", default=None, metavar="USER:PASSWORD", help="basic auth for --es-url")
    p.add_argument("--no-verify-certs", action="store_true", help="do not verify TLS certificates")
    return p


def _fail(message, code):
    print(f"tinyllm nlq ask: {message}", file=sys.stderr)
    return code


def main(argv=None):
    try:
        args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as e:                  # argparse already printed the usage and the problem
        return int(e.code or 0)
    try:
        question = check_input(" ".join(args.question))
        translator = Translator.load(args.model)
    except (ValueError, FileNotFoundError) as e:
        return _fail(e, EXIT_BAD_INPUT)
    index, why = (args.index, "--index") if args.index else guess_index(question)
    if not args.json:
        print(f"index: {index} ({why}); translator: {translator.kind}", file=sys.stderr)
    try:
        body = translator.translate(question, index)
    except CannotTranslate as e:
        return _fail(f"cannot translate: {e.reason}", EXIT_CANNOT_TRANSLATE)
    if args.json and args.translate_only:
        print(json.dumps({"index": index, "query": body}, ensure_ascii=False))
    elif not args.json:                      # the query first: it is worth reading while the engine loads
        print(json.dumps(body, indent=2, ensure_ascii=False), flush=True)
    return 0 if args.translate_only else _run_and_print(args, index, body, translator, question)


def _run_and_print(args, index, body, translator, question):
    from elastic_transport import TransportError
    from elasticsearch import ApiError
    backend = None
    try:
        backend = connect_backend(args.es_url, args.api_key, args.basic_auth, not args.no_verify_certs)
        if backend.server is not None:
            print("started the embedded engine; loading the data it needs (tip: `tinyllm nlq load --serve` keeps "
                  "one running for many questions)", file=sys.stderr)
        backend.ensure_loaded((index,), progress=True)
        checked = translator.execution_check(question, index, body, lambda i, b: run_query(backend, i, b))
        if checked != body and not args.json:
            print("that query finds nothing; the next best of the model's queries that finds something:",
                  file=sys.stderr)
            print(json.dumps(checked, indent=2, ensure_ascii=False), flush=True)
        body = checked
        result = run_query(backend, index, body)
    except QueryRejected as e:               # cannot happen after translate(); kept so no unchecked body runs
        return _fail(f"the query failed the safety gate: {e}", EXIT_CANNOT_TRANSLATE)
    except ApiError as e:
        return _fail(f"the search engine rejected the query: {e}", EXIT_ENGINE)
    except (RuntimeError, TransportError) as e:      # BackendError, EmbeddedEngineError, connection lost
        return _fail(str(e), EXIT_ENGINE)
    finally:
        if backend is not None:
            backend.close()
    if args.json:
        print(json.dumps({"index": index, "query": body, "result": result}, ensure_ascii=False))
    else:
        print()
        print(format_result(index, result))
    return 0
