"""Execution-verified distillation: teacher candidates -> validated, executed, deduplicated examples.

A candidate is kept only if the safety gate accepts its query, the engine runs it without error, and its result
is non-empty (or empty, when the question expects no results). Questions of the hand-written test set are held
out. Every rejection is counted by reason, so the README can say how much verification removed.

    tinyllm nlq distill --n=20000 --out=data/nlq_examples.jsonl.gz --seed=0
    tinyllm nlq distill --teacher=http --http-url=http://127.0.0.1:8080/v1 --model=qwen --n=500 --out=http.jsonl
"""
import argparse
import collections
import itertools
import json
import os
import pathlib
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from .compounds import phrase_compounds
from .examples import EXAMPLES_INDEX, ExampleStore, example_key
from .validate import QueryRejected, validate

DEFAULT_TESTSET = pathlib.Path(__file__).resolve().parents[2] / "data" / "nlq_testset.jsonl"
DEFAULT_CONFIRM = [DEFAULT_TESTSET.with_name(n) for n in ("nlq_confirm.jsonl", "nlq_confirm2.jsonl")]  # later sets
REASONS = ("held_out_testset", "duplicate_question", "rejected_by_validator", "execution_error", "empty_result",
           "empty_aggregation", "unexpected_results", "teacher_error")


def load_held_out(path):
    """The (index, normalised question) keys of a test-set JSONL file; they never enter the training data."""
    keys = set()
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if line.strip():
                case = json.loads(line)
                if "index" not in case or "question" not in case:
                    raise ValueError(f"{path}:{i}: a test case needs 'index' and 'question'")
                keys.add(example_key(case["index"], case["question"]))
    return keys


def first_aggregation_empty(resp):
    """True when the response's first aggregation has no buckets or no value (a metric over nothing)."""
    aggs = resp.get("aggregations") or {}
    if not aggs:
        return False
    first = aggs[sorted(aggs)[0]]
    if "buckets" in first:
        return len(first["buckets"]) == 0
    return first.get("value") is None


def verify(backend, example):
    """Check one candidate; returns (reason, None) on rejection or (None, normalised query) when it is kept."""
    try:
        body = phrase_compounds(validate(example.index, example.query))   # as the translator searches them
    except QueryRejected as e:
        return "rejected_by_validator", str(e)
    try:
        resp = backend.search(example.index, dict(body, track_total_hits=True) if "track_total_hits" not in body
                              else body)
    except Exception as e:  # any engine or transport failure disqualifies the candidate; the reason is counted
        return "execution_error", f"{type(e).__name__}: {e}"
    hits = resp["hits"]["total"]["value"]
    if example.expect_empty:
        return (None, body) if hits == 0 else ("unexpected_results", f"{hits} hits")
    if hits == 0:
        return "empty_result", "0 hits"
    if first_aggregation_empty(resp):
        return "empty_aggregation", "first aggregation is empty"
    return None, body


class Distiller:
    """Runs candidates through verification into an ExampleStore, counting rejections by reason."""

    def __init__(self, backend, held_out=(), store=None, log=None, every=1000):
        self.backend, self.held_out = backend, set(held_out)
        self.store = store if store is not None else ExampleStore()
        self.rejected = collections.Counter()
        self.samples = {}      # reason -> one example message, for the report
        self.seen = 0
        self.log, self.every = log, every

    def _precheck(self, example, pending=()):
        """Reasons decided without the engine: held out, or a question already kept (or already in flight)."""
        key = example.key()
        if key in self.held_out:
            return "held_out_testset"
        if key in self.store or key in pending:
            return "duplicate_question"
        return None

    def _settle(self, example, reason, detail):
        self.seen += 1
        if reason is not None:
            self.rejected[reason] += 1
            self.samples.setdefault(reason, f"{example.question!r}: {detail or reason}")
            return False
        example.query = detail
        return self.store.add(example)

    def offer(self, example):
        """Verify one candidate; returns True if it was kept."""
        reason = self._precheck(example)
        detail = None
        if reason is None:
            reason, detail = verify(self.backend, example)
        return self._settle(example, reason, detail)

    def run(self, candidates, total=None, workers=2, chunk=64):
        """Verify candidates in order; `workers` threads keep the engine busy while Python waits on the network.

        The outcome does not depend on thread timing: duplicates are decided in candidate order before the
        engine is asked, and results are settled in candidate order.
        """
        t0, it = time.time(), iter(candidates)
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            while True:
                batch = list(itertools.islice(it, chunk))
                if not batch:
                    break
                pending, jobs = set(), []
                for ex in batch:
                    reason = self._precheck(ex, pending)
                    if reason is None:
                        pending.add(ex.key())
                        jobs.append((ex, pool.submit(verify, self.backend, ex)))
                    else:
                        jobs.append((ex, reason))
                for ex, job in jobs:
                    reason, detail = job.result() if hasattr(job, "result") else (job, None)
                    self._settle(ex, reason, detail)
                    if self.log and self.seen % self.every == 0:
                        rate = self.seen / max(time.time() - t0, 1e-9)
                        eta = f", ETA {(total - self.seen) / rate:.0f} s" if total else ""
                        self.log(f"distill: {self.seen}{'/' + str(total) if total else ''} candidates, kept "
                                 f"{len(self.store)}, {rate:.0f}/s{eta}")
        return self.store

    def note_error(self, reason, message):
        self.seen += 1
        self.rejected[reason] += 1
        self.samples.setdefault(reason, message)

    def report(self):
        lines = [f"candidates: {self.seen}", f"kept: {len(self.store)}"]
        for reason in REASONS:
            if self.rejected[reason]:
                lines.append(f"rejected {reason}: {self.rejected[reason]}  (e.g. {self.samples[reason][:140]})")
        by_intent = collections.Counter(ex.intent for ex in self.store)
        by_compare = collections.Counter(ex.compare for ex in self.store)
        by_index = collections.Counter(ex.index for ex in self.store)
        lines.append("kept per index: " + ", ".join(f"{k} {v}" for k, v in sorted(by_index.items())))
        lines.append("kept per compare: " + ", ".join(f"{k} {v}" for k, v in sorted(by_compare.items())))
        lines.append("kept per intent: " + ", ".join(f"{k} {v}" for k, v in by_intent.most_common()))
        return "\n".join(lines)


def _http_candidates(args, backend, distiller):
    """Questions (from --questions, else from the template teacher) labelled by an OpenAI-compatible endpoint."""
    from .teacher import TemplateTeacher
    from .teacher_http import HttpTeacher, TeacherError, read_questions
    teacher = HttpTeacher(args.http_url, model=args.model, api_key=args.api_key, timeout=args.timeout,
                          retries=args.retries)
    if args.questions:
        questions = read_questions(args.questions)[:args.n]
    else:
        questions = [(ex.index, ex.question, ex.intent)
                     for ex in TemplateTeacher.from_backend(backend, seed=args.seed).generate(args.n)]
    for index, question, intent in questions:
        try:
            yield teacher.label(index, question, intent=intent)
        except TeacherError as e:
            distiller.note_error("teacher_error", f"{question!r}: {e}")


def build_parser():
    p = argparse.ArgumentParser(prog="tinyllm nlq distill", description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=20000, help="number of teacher candidates to try (default 20000)")
    p.add_argument("--out", default="data/nlq_examples.jsonl.gz", help="output JSONL(.gz), written atomically")
    p.add_argument("--seed", type=int, default=0, help="template teacher seed (same seed -> same candidates)")
    p.add_argument("--teacher", choices=("template", "http"), default="template")
    p.add_argument("--es-url", default=None, help="Elasticsearch URL (default: $TINYLLM_ES_URL or embedded osmem)")
    p.add_argument("--testset", nargs="*", default=[str(p) for p in [DEFAULT_TESTSET, *DEFAULT_CONFIRM]],
                   help="test-set JSONL files whose questions are held out (default: both hand-written sets)")
    p.add_argument("--engine-index", default=None, help=f"also store the examples in this engine index "
                                                        f"(e.g. {EXAMPLES_INDEX})")
    p.add_argument("--http-url", default=None, help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1")
    p.add_argument("--model", default="default", help="model name sent to the HTTP teacher")
    p.add_argument("--api-key", default=os.environ.get("TINYLLM_TEACHER_API_KEY"),
                   help="bearer token for the HTTP teacher (default: $TINYLLM_TEACHER_API_KEY, else none)")
    p.add_argument("--questions", default=None, help="JSONL of {index, question[, intent]} for the HTTP teacher")
    p.add_argument("--timeout", type=float, default=60.0, help="HTTP teacher timeout per request, seconds")
    p.add_argument("--retries", type=int, default=2, help="HTTP teacher retries on timeouts and 429/5xx")
    p.add_argument("--workers", type=int, default=2, help="concurrent verification requests (default 2)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def main(argv=None, backend=None):
    """`tinyllm nlq distill ...`; `backend` lets a caller (a test) reuse an engine it already has."""
    args = build_parser().parse_args(argv)
    if args.n < 1:
        print(f"tinyllm nlq distill: --n must be >= 1, got {args.n}", file=sys.stderr)
        return 2
    if args.teacher == "http" and not args.http_url:
        print("tinyllm nlq distill: --teacher=http needs --http-url=...", file=sys.stderr)
        return 2
    from .backend import connect
    from .teacher import TemplateTeacher
    log = None if args.quiet else (lambda msg: print(msg, flush=True))
    held_out = set()
    for path in args.testset or ():
        if pathlib.Path(path).exists():
            held_out |= load_held_out(path)
        else:
            print(f"warning: test set {path} not found; its questions are not held out", file=sys.stderr)
    print(f"distill: {args.teacher} teacher, {args.n} candidates, seed {args.seed}, {len(held_out)} held-out "
          f"test questions")
    backend = backend or connect(args.es_url)
    backend.ensure_loaded(progress=not args.quiet)
    distiller = Distiller(backend, held_out, log=log)
    if args.teacher == "template":
        candidates = TemplateTeacher.from_backend(backend, seed=args.seed).generate(args.n)
    else:
        candidates = _http_candidates(args, backend, distiller)
    t0 = time.time()
    store = distiller.run(candidates, total=args.n, workers=args.workers)
    print(distiller.report())
    n = store.export_jsonl(args.out)
    print(f"wrote {n} examples to {args.out} in {time.time() - t0:.0f} s")
    if args.engine_index:
        store.save_to_engine(backend, args.engine_index)
        print(f"stored {n} examples in engine index {args.engine_index!r}")
    return 0


def fresh_cases(seed, n, examples=None, save=None):
    """Evaluation cases from n candidates of the template teacher with `seed`, verified as usual, minus those whose
    question the training file `examples` (default: the shipped set) has, by the duplicate key: held-out data in
    the teacher's distribution, as large as one likes (train_nlq.py --fresh-seed, train_rerank.py). With `save`,
    the verified examples are written there (atomically, as distill writes --out), to score later students on the
    same questions (file_cases), whatever the teacher has become by then."""
    import tempfile
    from .testing import shared_backend
    if n < 1:
        raise ValueError(f"fresh cases: n (teacher candidates) must be >= 1, got {n}")
    with tempfile.TemporaryDirectory() as tmp:
        path = save or os.path.join(tmp, "fresh.jsonl.gz")
        if main([f"--n={n}", f"--seed={seed}", f"--out={path}", "--quiet"], backend=shared_backend()) != 0:
            raise RuntimeError(f"distilling fresh examples (teacher seed {seed}) failed; see above")
        return file_cases(path, examples)


def file_cases(path, examples=None):
    """Evaluation cases from a file of distilled examples (fresh_cases(save=...), perhaps of an older teacher),
    minus those whose question the training file `examples` (default: the shipped set) has."""
    from .evaluate import Case
    from .prepare_ir import load_examples
    seen = {example_key(ex["index"], ex["question"]) for ex in load_examples(examples or None)}
    fresh = [ex for ex in load_examples(path) if example_key(ex["index"], ex["question"]) not in seen]
    return [Case(f"fresh{i}", ex["index"], ex["question"], ex["query"], ex["compare"], ex.get("intent"))
            for i, ex in enumerate(fresh)]


if __name__ == "__main__":
    sys.exit(main())
