"""Where sweep runs execute: in this process, or in local worker processes; the interface other backends implement.

An executor has one method, `map_unordered(fn, specs)`, yielding `(spec, result)` pairs as runs finish, in any
order. `fn` is a train function spec -> result dict, named "package.module:function" so a worker can import it;
specs and results are plain JSON-able dicts, so they cross process (or machine) boundaries as JSON text, never
pickle. A failed run yields `(spec, {"error": "..."})`; the sweep does not record it, so the next start retries it.

Dropping in Ray or Dask (not dependencies of tinyllm): write a class with the same method, e.g. for Ray
`refs = {remote_call.remote(fn, s): s for s in specs}` then `ray.wait` in a loop, yielding each finished pair; for
Dask `client.submit(call, fn, s)` per spec and `distributed.as_completed`. `call(fn, spec)` below is the function
to ship to the workers: it imports `fn` by name and runs it.
"""
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback


def resolve(fn):
    """A callable from a callable or from "package.module:function"."""
    if callable(fn):
        return fn
    if not isinstance(fn, str) or ":" not in fn:
        raise ValueError(f"fn must be a callable or a 'package.module:function' string, got {fn!r}")
    module, _, name = fn.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"fn {fn!r} cannot be imported: {e}") from e


def call(fn, spec):
    """Run fn(spec) and return its result dict, or {"error": traceback text} if it raised."""
    try:
        result = resolve(fn)(dict(spec))
        if not isinstance(result, dict):
            raise TypeError(f"the train function must return a dict, got {type(result).__name__}")
        return result
    except Exception:  # a run's failure is reported, not fatal to the sweep
        return {"error": traceback.format_exc(limit=5)}


class SerialExecutor:
    """Runs one spec after another in this process: the simplest backend, and what tests inject fakes into."""

    def map_unordered(self, fn, specs):
        fn = resolve(fn) if not callable(fn) else fn
        for spec in specs:
            yield spec, call(fn, spec)


class LocalProcessExecutor:
    """Runs up to `workers` specs at once, each in a fresh `python -m tinyllm.scaling.executors` process.

    Each worker gets `threads` BLAS/Numba threads (workers x threads should not exceed the cores). The spec goes
    in on stdin as JSON and the result comes back as the last line of stdout.
    """

    def __init__(self, workers=2, threads=1, env=None, poll_s=0.2):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
        self.workers, self.threads, self.poll_s = workers, threads, poll_s
        self.env = dict(os.environ, **(env or {}))
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
            self.env[var] = str(threads)

    def _start(self, fn, spec):
        # output goes to temporary files, not pipes: a chatty run cannot fill a pipe and stall
        out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
        proc = subprocess.Popen([sys.executable, "-m", "tinyllm.scaling.executors", fn], env=self.env,
                                stdin=subprocess.PIPE, stdout=out, stderr=err, text=True)
        proc.stdin.write(json.dumps(spec))
        proc.stdin.close()
        return proc, out, err

    def map_unordered(self, fn, specs):
        if not isinstance(fn, str):
            raise ValueError("LocalProcessExecutor needs fn as a 'package.module:function' string (workers import it)")
        pending, running = list(specs), []
        while pending or running:
            while pending and len(running) < self.workers:
                spec = pending.pop(0)
                running.append((spec, self._start(fn, spec)))
            for item in list(running):
                spec, (proc, out_f, err_f) = item
                if proc.poll() is None:
                    continue
                running.remove(item)
                out_f.seek(0), err_f.seek(0)
                out, err = out_f.read(), err_f.read()
                out_f.close(), err_f.close()
                lines = out.strip().splitlines()
                try:
                    result = json.loads(lines[-1]) if lines else {"error": f"no output; stderr: {err[-2000:]}"}
                except json.JSONDecodeError:
                    result = {"error": f"last output line is not JSON: {lines[-1][:200]!r}; stderr: {err[-2000:]}"}
                if proc.returncode != 0 and "error" not in result:
                    result = {"error": f"worker exited {proc.returncode}; stderr: {err[-2000:]}"}
                yield spec, result
            if running:
                time.sleep(self.poll_s)


EXECUTORS = {"serial": SerialExecutor, "local": LocalProcessExecutor}


def _worker_main(argv):
    """Worker entry point: read a spec from stdin, run argv[0] on it, print the result as one JSON line."""
    spec = json.loads(sys.stdin.read())
    sys.stdout.flush()
    result = call(argv[0], spec)
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1:]))
