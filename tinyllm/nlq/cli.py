"""`tinyllm nlq`: load the demo indexes, evaluate a translator, translate questions in bulk, check a query body.

    tinyllm nlq load [--serve]                       create + fill both indexes (embedded engine unless --es-url)
    tinyllm nlq eval data/nlq_testset.jsonl          execution accuracy of the trained model (--translator=baseline)
    tinyllm nlq translate --jsonl IN --out OUT       {"id","index","question"} -> {"id","query"} or {"id","error"}
                                                     (the trained model by default; --translator=baseline)
    tinyllm nlq validate body.json --index=articles  run the safety gate on one body (- reads stdin)

Every command takes --es-url (default: env TINYLLM_ES_URL; without one, an embedded osmem-server is started, and
since it keeps nothing on disk, `eval` loads the data first). `distill` runs tinyllm.nlq.distill; `ask`, nlq/ask.py.
"""
import argparse
import json
import os
import sys
import tempfile
import time
from importlib import import_module

from . import schema
from .validate import QueryRejected, validate

TRANSLATORS = {"baseline": "tinyllm.nlq.baseline:translate",      # name -> "module:function"
               "model": "tinyllm.nlq.translator:translate"}       # the trained translator (data/nlq_model/)


def write_atomic(path, text):
    """Write `text` to `path` via a temporary file in the same folder and os.replace (no half-written files)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def resolve_translator(name):
    """A translate_fn(index, question) -> body: a registered name (baseline) or any "module:function"."""
    target = TRANSLATORS.get(name, name)
    if ":" not in target:
        raise ValueError(f"--translator must be one of {sorted(TRANSLATORS)} or 'module:function', got {name!r}")
    module, func = target.split(":", 1)
    try:
        return getattr(import_module(module), func)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"--translator {name!r}: cannot import {target} ({e})") from None


def _connect(args):
    from .backend import connect          # imported here so `validate` and `translate` need no engine
    auth = None
    if args.basic_auth:
        if ":" not in args.basic_auth:
            raise ValueError("--basic-auth must be user:password")
        auth = tuple(args.basic_auth.split(":", 1))
    return connect(args.es_url, api_key=args.api_key, basic_auth=auth, verify_certs=not args.no_verify_certs)


def cmd_load(args):
    backend = _connect(args)
    print(f"engine: {backend.kind} at {backend.url}", file=sys.stderr)
    t0 = time.perf_counter()
    counts = backend.ensure_loaded(schema.INDEXES, progress=True)
    print(" ".join(f"{i}={n}" for i, n in counts.items()) + f" ({time.perf_counter() - t0:.1f} s)")
    if args.serve:
        if backend.kind != "osmem" or backend.server is None:
            raise ValueError("--serve only applies to the embedded engine (no --es-url)")
        print(f"serving; in another shell: export TINYLLM_ES_URL={backend.url}  (Ctrl-C stops)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    elif backend.server is not None:
        print("note: the embedded engine keeps nothing on disk, so these indexes vanish when this command ends; "
              "`tinyllm nlq load --serve` keeps them available to other commands", file=sys.stderr)
    backend.close()
    return 0


def cmd_eval(args):
    from .evaluate import evaluate, load_cases
    cases = load_cases(args.cases)
    translate = resolve_translator(args.translator)
    backend = _connect(args)
    backend.ensure_loaded(schema.INDEXES, progress=True)
    if args.translator == "model" and not args.no_execution_check:     # the engine is here: let the model use it
        from .translator import Translator
        translator = Translator.load()

        def translate(index, question):
            return translator.translate(question, index, search=backend.search)

    def progress(done, total, report):
        if done % 10 == 0 or done == total:
            print(f"\r  {done}/{total} cases, accuracy so far {report.accuracy:.1%}", end="", file=sys.stderr,
                  flush=True)
    report = evaluate(backend, cases, translate, progress=progress)
    print(file=sys.stderr)
    print(f"{args.cases}: translator {args.translator!r} on {backend.kind}")
    print(report.format())
    if args.json:
        write_atomic(args.json, json.dumps(report.to_dict(), indent=1) + "\n")
        print(f"wrote {args.json}")
    backend.close()
    return 0


def cmd_translate(args):
    translate = resolve_translator(args.translator)
    out_lines, n_err = [], 0
    with open(args.jsonl, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                if not isinstance(item, dict) or not isinstance(item.get("question"), str):
                    raise ValueError("each line needs a string 'question'")
            except ValueError as e:
                raise ValueError(f"{args.jsonl}:{lineno}: {e}") from None
            result = {"id": item.get("id", lineno)}
            try:
                result["query"] = validate(item.get("index"), translate(item.get("index"), item["question"]))
            except QueryRejected as e:                         # the translator's query failed the gate
                result["error"] = f"rejected: {e}"
                n_err += 1
            except Exception as e:                             # one bad line must not lose the others
                result["error"] = f"{type(e).__name__}: {e}"
                n_err += 1
            out_lines.append(json.dumps(result, ensure_ascii=False))
    write_atomic(args.out, "".join(line + "\n" for line in out_lines))
    print(f"wrote {len(out_lines)} lines to {args.out} ({n_err} errors)")
    return 0


def cmd_validate(args):
    if args.file == "-":
        text = sys.stdin.read()
    else:
        with open(args.file, encoding="utf-8") as f:
            text = f.read()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{args.file}: not valid JSON ({e})") from None
    index, body = args.index, doc
    if isinstance(doc, dict) and set(doc) == {"index", "body"}:
        index, body = args.index or doc["index"], doc["body"]
    if index is None:
        raise ValueError("--index is required (or give {\"index\": ..., \"body\": ...})")
    try:
        print(json.dumps(validate(index, body), indent=1))
    except QueryRejected as e:
        print(f"rejected: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_distill(argv):
    try:
        module = import_module("tinyllm.nlq.distill")
    except ModuleNotFoundError as e:
        if e.name == "tinyllm.nlq.distill":
            print("tinyllm nlq distill: not available in this checkout (tinyllm/nlq/distill.py missing)",
                  file=sys.stderr)
            return 2
        raise
    return int(module.main(argv) or 0)


def build_parser():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--es-url", default=None, help="Elasticsearch URL (default: env TINYLLM_ES_URL, "
                                                       "else an embedded osmem-server)")
    common.add_argument("--api-key", default=None, help="API key for --es-url")
    common.add_argument("--basic-auth", default=None, metavar="USER:PASSWORD", help="basic auth for --es-url")
    common.add_argument("--no-verify-certs", action="store_true", help="do not verify TLS certificates")
    parser = argparse.ArgumentParser(prog="tinyllm nlq", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="{load,eval,translate,validate,distill,ask}")
    p = sub.add_parser("load", parents=[common], help="create and fill both indexes")
    p.add_argument("--serve", action="store_true", help="keep the embedded engine running and print its URL")
    p = sub.add_parser("eval", parents=[common], help="execution accuracy of a translator on a cases file")
    p.add_argument("cases", help="JSON Lines with id, index, question, gold, compare (and optional intent)")
    p.add_argument("--translator", default="model",
                   help="model (the shipped checkpoint, as in translate), baseline, or module:function")
    p.add_argument("--no-execution-check", action="store_true",
                   help="the model's best query only, even when it finds nothing (see nbest.py)")
    p.add_argument("--json", default=None, metavar="OUT", help="also write the full report as JSON")
    p = sub.add_parser("translate", parents=[common], help="translate questions in bulk")
    p.add_argument("--jsonl", required=True, metavar="IN", help="JSON Lines with id, index, question")
    p.add_argument("--out", required=True, help="output JSON Lines (written atomically)")
    p.add_argument("--translator", default="model", help="model (the shipped checkpoint), baseline, or module:function")
    p = sub.add_parser("validate", parents=[common], help="check one query body with the safety gate")
    p.add_argument("file", help="a JSON file with the body, or - for stdin")
    p.add_argument("--index", default=None, choices=schema.INDEXES)
    sub.add_parser("distill", help="teacher distillation (tinyllm.nlq.distill; see its --help)", add_help=False)
    sub.add_parser("ask", help="translate one question, run it, print the query and results (see its --help)",
                   add_help=False)
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["distill"]:
        return cmd_distill(argv[1:])
    if argv[:1] == ["ask"]:                        # part 2: its own module and options (tinyllm/nlq/ask.py)
        from .ask import main as ask_main
        return int(ask_main(argv[1:]) or 0)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    handler = {"load": cmd_load, "eval": cmd_eval, "translate": cmd_translate, "validate": cmd_validate}
    try:
        return handler[args.command](args)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"tinyllm nlq {args.command}: {e}", file=sys.stderr)
        return 2
