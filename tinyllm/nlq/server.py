"""`tinyllm serve`: an HTTP service, POST /{index}/nlq {"question": ...} -> {"query": ..., "result": ...}.

FastAPI gives the OpenAPI schema (/openapi.json) and docs (/docs) for free; uvicorn serves it. Every answer that
is not a success carries one JSON body shape, `{"error": {"code", "message"}}`, with these statuses:
400 bad input (malformed JSON, not UTF-8, empty or over 1,000 characters, unknown index or key), 404/405 unknown
route or method, 413 body over 64 KiB, 422 the question cannot be translated (or, which the translator's contract
rules out, its query failed the safety gate), 502 the engine refused the query, 503 the engine is down.
Only searches that passed the safety gate reach the engine, and only on the allowed indexes.
"""
import argparse
import json
import sys
import threading

from elastic_transport import TransportError
from elasticsearch import ApiError
try:
    from fastapi import FastAPI, Path, Request
    from fastapi.responses import HTMLResponse, JSONResponse
    from pydantic import BaseModel, Field
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException as StarletteHTTPException
    import uvicorn
except ModuleNotFoundError as e:          # an optional extra: say how to get it instead of a bare import error
    raise ModuleNotFoundError(f"tinyllm serve needs FastAPI and uvicorn ({e.name} is missing): "
                              f"pip install 'tinyllm[serve]'", name=e.name) from None

from . import schema, static_page
from .ask import connect_backend, run_query
from .summary import KEY_FIELDS
from .translator import MAX_QUESTION_CHARS, CannotTranslate, Translator
from .validate import QueryRejected

MAX_BODY_BYTES = 64 * 1024        # a 1,000-character question in JSON is at most ~6 KiB even fully escaped


class NLQRequest(BaseModel):
    question: str = Field(..., min_length=1, max_length=MAX_QUESTION_CHARS, examples=["how many papers in cs.CL?"])


class NLQResponse(BaseModel):
    index: str
    question: str
    translator: str = Field(..., description="which translator wrote the query (model or keyword baseline)")
    query: dict = Field(..., description="the validated Elasticsearch search body that was run")
    result: dict = Field(..., description="took_ms, total {value, relation}, hits [{_id, _score, _source}], "
                                          "aggregations")


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class ApiFailure(Exception):
    """An error answer: HTTP status, a stable machine-readable code, and a message for people."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status, code, message):
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message}})


class Engine:
    """The search backend, connected on first use (retried per request until it works), so a server can start
    before its engine; a lost connection later is the client's to retry (it pools and revives nodes itself)."""

    def __init__(self, backend=None, **connect_kwargs):
        self.backend, self.connect_kwargs, self.lock = backend, connect_kwargs, threading.Lock()
        self.owned = backend is None               # close only what we connected ourselves

    def get(self, progress=False):
        """The connected Backend with both indexes loaded; ApiFailure(503) if the engine cannot be reached."""
        with self.lock:
            if self.backend is None:
                backend = None
                try:
                    backend = connect_backend(**self.connect_kwargs)
                    backend.ensure_loaded(schema.INDEXES, progress=progress)
                except (RuntimeError, TransportError, ApiError) as e:
                    if backend is not None:
                        backend.close()            # e.g. an embedded engine that started but could not load
                    raise ApiFailure(503, "engine_unavailable", f"the search engine is unavailable: {e}") from None
                self.backend = backend
            return self.backend

    def search(self, index, body):
        """Run a body (validated again by run_query); map engine failures to 503 (down) or 502 (refused)."""
        backend = self.get()
        try:
            return run_query(backend, index, body)
        except QueryRejected as e:                 # a translator broke its contract; the engine never sees it
            raise ApiFailure(422, "unsafe_query", f"the translated query failed the safety gate: {e}") from None
        except TransportError as e:                # refused / timed out; the client retries the node next time
            raise ApiFailure(503, "engine_unavailable", f"the search engine is unavailable: {e}") from None
        except ApiError as e:
            status = e.meta.status
            if status == 503:
                raise ApiFailure(503, "engine_unavailable", f"the search engine is overloaded: {e}") from None
            if status == 404:
                raise ApiFailure(503, "engine_unavailable", f"index {index!r} is missing on the engine "
                                 f"(run `tinyllm nlq load --es-url ...`): {e}") from None
            raise ApiFailure(502, "engine_error", f"the search engine refused the query ({status}): {e}") from None


def _no_duplicate_keys(pairs):
    """json.loads hook: {"question": "a", "question": "b"} is ambiguous, so refuse it instead of keeping the last."""
    keys = [k for k, _ in pairs]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise ApiFailure(400, "bad_request", f"duplicate key(s) {duplicates} in the request body")
    return dict(pairs)


def parse_question(raw):
    """The question from a raw request body, or ApiFailure(400/413) saying exactly what is wrong with it."""
    if len(raw) > MAX_BODY_BYTES:
        raise ApiFailure(413, "body_too_large", f"request body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ApiFailure(400, "not_utf8", f"request body is not valid UTF-8 (byte {e.start})") from None
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as e:
        raise ApiFailure(400, "malformed_json", f"request body is not valid JSON: {e}") from None
    except RecursionError:
        raise ApiFailure(400, "malformed_json", "request body is nested too deeply") from None
    if not isinstance(doc, dict):
        raise ApiFailure(400, "bad_request", f'request body must be a JSON object {{"question": ...}}, '
                                             f"got {type(doc).__name__}")
    unknown = sorted(set(doc) - {"question"})
    if unknown:
        raise ApiFailure(400, "bad_request", f"unknown key(s) {unknown}; the body takes only 'question'")
    question = doc.get("question")
    if not isinstance(question, str):
        raise ApiFailure(400, "bad_request", f"'question' must be a string, got "
                                             f"{'nothing' if question is None else type(question).__name__}")
    if not question.strip():
        raise ApiFailure(400, "empty_question", "'question' is empty")
    try:
        question.encode("utf-8")
    except UnicodeEncodeError as e:           # a lone surrogate escape such as "\ud800" is not text
        raise ApiFailure(400, "not_utf8", f"'question' has an unpaired surrogate at character {e.start}") from None
    if len(question) > MAX_QUESTION_CHARS:
        raise ApiFailure(400, "question_too_long",
                         f"'question' has {len(question)} characters; the limit is {MAX_QUESTION_CHARS}")
    return question


_STATUS_CODES = {404: "not_found", 405: "method_not_allowed"}
_ERRORS = {s: {"model": ErrorBody} for s in (400, 413, 422, 502, 503)}


def create_app(engine, translator):
    """The FastAPI app over an Engine and a Translator (both injected, so tests can share one loaded engine)."""
    app = FastAPI(title="tinyllm NLQ", description=__doc__.split("\n", 2)[2], version="1")
    translate_lock = threading.Lock()                 # one translation at a time: the model is not thread-safe

    @app.exception_handler(ApiFailure)
    async def _failure(request, exc):
        return error_response(exc.status, exc.code, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request, exc):
        return error_response(exc.status_code, _STATUS_CODES.get(exc.status_code, "http_error"), str(exc.detail))

    @app.exception_handler(Exception)
    async def _crash(request, exc):
        return error_response(500, "internal_error", f"{type(exc).__name__}: {exc}")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page():
        return static_page.render(schema.INDEXES, KEY_FIELDS)

    @app.get("/health", summary="Is the search engine reachable?", responses={503: {"model": ErrorBody}})
    async def health():
        backend = await run_in_threadpool(engine.get)
        return {"status": "ok", "engine": backend.kind, "translator": translator.kind}

    request_schema = {"requestBody": {"required": True, "content": {"application/json": {
        "schema": NLQRequest.model_json_schema()}}}}

    @app.post("/{index}/nlq", response_model=NLQResponse, responses=_ERRORS, openapi_extra=request_schema,
              summary="Translate a question into a search, run it, return both")
    async def nlq(request: Request,
                  index: str = Path(..., description="the index to search", json_schema_extra={
                      "enum": list(schema.INDEXES)})):
        if index not in schema.INDEXES:
            raise ApiFailure(400, "unknown_index", f"unknown index {index!r}; allowed: {', '.join(schema.INDEXES)}")
        question = parse_question(await request.body())

        def translate():
            with translate_lock:
                return translator.translate(question, index, search=engine.search)   # with the execution check
        try:
            body = await run_in_threadpool(translate)
        except CannotTranslate as e:
            raise ApiFailure(422, "cannot_translate", e.reason) from None
        result = await run_in_threadpool(engine.search, index, body)
        return {"index": index, "question": question, "translator": translator.kind, "query": body,
                "result": result}

    return app


def build_parser():
    p = argparse.ArgumentParser(prog="tinyllm serve", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--model", default=None, metavar="DIR", help="translator checkpoint (default data/nlq_model/)")
    p.add_argument("--es-url", default=None, help="Elasticsearch URL (default: env TINYLLM_ES_URL, else embedded)")
    p.add_argument("--api-key", default=None, help="API key for --es-url")
    p.add_argument("--basic-auth", default=None, metavar="USER:PASSWORD", help="basic auth for --es-url")
    p.add_argument("--no-verify-certs", action="store_true", help="do not verify TLS certificates")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    return p


def main(argv=None):
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if not 0 < args.port < 65536:
        print(f"tinyllm serve: --port must be in 1..65535, got {args.port}", file=sys.stderr)
        return 2
    try:
        translator = Translator.load(args.model)
    except (ValueError, FileNotFoundError) as e:
        print(f"tinyllm serve: {e}", file=sys.stderr)
        return 2
    engine = Engine(es_url=args.es_url, api_key=args.api_key, basic_auth=args.basic_auth,
                    verify_certs=not args.no_verify_certs)
    print(f"translator: {translator.kind}; connecting to the search engine and loading the indexes...",
          file=sys.stderr, flush=True)
    try:
        backend = engine.get(progress=True)
        print(f"engine: {backend.kind} at {backend.url}", file=sys.stderr)
    except ApiFailure as e:
        print(f"warning: {e.message}; requests answer 503 until it is reachable", file=sys.stderr, flush=True)
    print(f"open http://{args.host}:{args.port}/ (API docs at /docs)", file=sys.stderr, flush=True)
    uvicorn.run(create_app(engine, translator), host=args.host, port=args.port, log_level=args.log_level)
    if engine.backend is not None and engine.owned:
        engine.backend.close()
    return 0
