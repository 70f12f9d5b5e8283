"""The HTTP teacher: any OpenAI-compatible chat-completions endpoint (llama.cpp, Ollama, vLLM, a hosted model)
labels questions with search bodies through function calling with one `search(index, body)` tool.

Uses `requests` with a timeout per request and retries (exponential backoff) on timeouts, connection errors,
429 and 5xx. Anything else that is not a well-formed tool call raises TeacherError saying what was wrong. The
answers are only candidates: distill.py validates and executes them like the template teacher's.
"""
import json
import time

import requests

from . import schema
from .dates import DATA_NOW
from .examples import Example

RETRY_STATUS = (429, 500, 502, 503, 504)


class TeacherError(RuntimeError):
    """The endpoint failed or answered with something other than one search tool call."""


def search_tool():
    """The tool schema offered to the model: pick an allowed index and write a search body."""
    return {"type": "function", "function": {
        "name": "search",
        "description": "Run an Elasticsearch search. `body` is the JSON request body of POST /<index>/_search.",
        "parameters": {"type": "object", "required": ["index", "body"], "properties": {
            "index": {"type": "string", "enum": list(schema.INDEXES)},
            "body": {"type": "object", "description": "search body: query, aggs, size, from, sort, _source, "
                                                      "track_total_hits, highlight"}}}}}


def system_prompt(mappings=None):
    """Fields and their types for each index, plus the house rules the validator will enforce anyway."""
    lines = ["You translate questions into Elasticsearch search bodies by calling the `search` tool once.",
             f"Today is {DATA_NOW}; write relative dates as date math anchored there, e.g. "
             f"\"{DATA_NOW}||-1M/M\".",
             "Rules: term/terms only on keyword, date or numeric fields; match/match_phrase only on text fields; "
             "size at most 100; 'how many' -> size 0 with track_total_hits true; no scripts.", "Indexes:"]
    for index in schema.INDEXES:
        types = schema.field_types(index, mappings)
        lines.append(f"- {index}: " + ", ".join(f"{f} ({t})" for f, t in sorted(types.items())))
    return "\n".join(lines)


def infer_compare(body):
    """How a body's result should be judged: aggs, count (size 0), topk (explicit sort) or set."""
    if body.get("aggs") or body.get("aggregations"):
        return "aggs"
    if body.get("size") == 0:
        return "count"
    return "topk" if body.get("sort") else "set"


def read_questions(path):
    """JSONL lines {"index", "question"[, "intent"]} -> [(index, question, intent)]; bad lines name path:line."""
    out = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                out.append((obj["index"], obj["question"], obj.get("intent", "http")))
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{i}: expected {{\"index\", \"question\"}} JSON ({e})") from None
    return out


class HttpTeacher:
    """Labels questions via POST {url}/chat/completions with a forced `search` tool call."""

    def __init__(self, url, model="default", api_key=None, timeout=60.0, retries=2, backoff=0.5, session=None):
        if not url or not str(url).startswith(("http://", "https://")):
            raise ValueError(f"url: expected an http(s) URL of an OpenAI-compatible API, got {url!r}")
        if timeout <= 0:
            raise ValueError(f"timeout: must be > 0 seconds, got {timeout}")
        if retries < 0:
            raise ValueError(f"retries: must be >= 0, got {retries}")
        url = str(url).rstrip("/")
        self.endpoint = url if url.endswith("/chat/completions") else url + "/chat/completions"
        self.model, self.api_key, self.timeout = model, api_key, timeout
        self.retries, self.backoff = retries, backoff
        self.session = session or requests.Session()
        self._system = system_prompt()

    def request(self, index, question):
        return {"model": self.model, "temperature": 0,
                "messages": [{"role": "system", "content": self._system},
                             {"role": "user", "content": f"Index: {index}\nQuestion: {question}"}],
                "tools": [search_tool()],
                "tool_choice": {"type": "function", "function": {"name": "search"}}}

    def _post(self, payload):
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                resp = self.session.post(self.endpoint, json=payload, headers=headers, timeout=self.timeout)
            except requests.Timeout:
                last = f"timed out after {self.timeout} s"
                continue
            except requests.ConnectionError as e:
                last = f"connection failed ({e.__class__.__name__})"
                continue
            if resp.status_code in RETRY_STATUS:
                last = f"HTTP {resp.status_code}: {resp.text[:200]}"
                continue
            if resp.status_code != 200:
                raise TeacherError(f"{self.endpoint} answered HTTP {resp.status_code}: {resp.text[:200]}")
            try:
                return resp.json()
            except ValueError:
                raise TeacherError(f"{self.endpoint} answered with non-JSON: {resp.text[:200]!r}") from None
        raise TeacherError(f"{self.endpoint}: giving up after {self.retries + 1} attempt(s); last error: {last}")

    def translate(self, index, question):
        """Ask the model; returns the search body of its `search` tool call for `index`."""
        if index not in schema.INDEXES:
            raise ValueError(f"index must be one of {list(schema.INDEXES)}, got {index!r}")
        data = self._post(self.request(index, question))
        return parse_tool_call(data, index)

    def label(self, index, question, intent="http"):
        """One candidate Example (unverified) for `question`."""
        body = self.translate(index, question)
        return Example(question=question, index=index, query=body, intent=intent, compare=infer_compare(body),
                       teacher="http", extra={"now": DATA_NOW})


def parse_tool_call(data, index):
    """choices[0].message.tool_calls[0].function -> body; TeacherError naming the first missing or bad part."""
    def need(obj, key, path):
        if isinstance(key, int):
            if not isinstance(obj, list) or len(obj) <= key:
                raise TeacherError(f"malformed response: {path} is missing (expected a non-empty list)")
            return obj[key]
        if not isinstance(obj, dict) or key not in obj or obj[key] is None:
            raise TeacherError(f"malformed response: {path}.{key} is missing")
        return obj[key]
    message = need(need(need(data, "choices", "$"), 0, "$.choices"), "message", "$.choices[0]")
    call = need(need(message, "tool_calls", "$.choices[0].message"), 0, "$.choices[0].message.tool_calls")
    fn = need(call, "function", "$.choices[0].message.tool_calls[0]")
    name = fn.get("name")
    if name != "search":
        raise TeacherError(f"malformed response: the model called {name!r}, expected 'search'")
    args = need(fn, "arguments", "$.choices[0].message.tool_calls[0].function")
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError as e:
            raise TeacherError(f"malformed response: tool arguments are not JSON ({e.msg})") from None
    if not isinstance(args, dict) or not isinstance(args.get("body"), dict):
        raise TeacherError("malformed response: tool arguments need an object 'body'")
    if args.get("index", index) != index:
        raise TeacherError(f"the model searched index {args.get('index')!r}, but the question is for {index!r}")
    return args["body"]
