"""The `tinyllm` command: one table of subcommands, each implemented as `main(argv)` in its own module.

Subcommand modules are imported only when chosen, so `tinyllm info` never pays for the NLQ client.
"""
import os
import sys
from importlib import import_module

# subcommand -> ("module:function", one-line help). Each function takes the remaining argv list, returns an exit code.
COMMANDS = {
    "info": ("tinyllm.info:main", "print versions, the active kernel backend and thread counts"),
    "prepare": ("tinyllm.datasets.prepare:main", "tokenize a text file into train/val token arrays"),
    "train": ("tinyllm.training.cli:main", "train a model (default: the CPU preset GPT on tiny Shakespeare)"),
    "sample": ("tinyllm.sampling.cli:main", "generate text from a checkpoint directory"),
    "ngram": ("tinyllm.ngram.cli:main", "fit, evaluate and sample count-based n-gram models"),
    "nlq": ("tinyllm.nlq.cli:main", "natural-language questions -> Elasticsearch queries (load, eval, translate, ask)"),
    "serve": ("tinyllm.nlq.server:main", "HTTP service: POST /{index}/nlq turns a question into a query and its results"),
    "scaling": ("tinyllm.scaling.cli:main", "scaling-law experiments: IsoFLOP sweeps and power-law fits"),
}


# Commands whose hot loop is many small matrix products: they run one thread pool (Numba's, with BLAS on one
# thread inside it) whose idle workers sleep; see tinyllm/kernels/runtime.py for the measurements. `info` gets the
# same setup so that it reports what train and sample use. The NLQ commands decode one token at a time, (1, C)
# products where a second BLAS thread only waits (measured beside other jobs: 300 ms a translation instead of 37).
ONE_POOL = {"train", "sample", "info", "nlq", "serve"}
SHOW_THREADS = {"train", "sample", "info"}     # the commands that print the thread setup line
BLAS_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def pin_blas_threads(command, environ):
    """Set up `environ` for `command` before NumPy is imported: BLAS on one thread (unless the user set one of
    BLAS_VARS), parallel work in Numba's pool (NUMBA_NUM_THREADS, default all cores), idle workers parked after a
    short spin (tinyllm.kernels.runtime.prefer_passive_wait). Returns the line to print, or None when the command
    does not use it."""
    if command not in ONE_POOL:
        return None
    pinned = not any(v in environ for v in BLAS_VARS)
    if pinned:
        environ["OPENBLAS_NUM_THREADS"] = environ["MKL_NUM_THREADS"] = "1"
    from tinyllm.kernels.runtime import prefer_passive_wait  # loads NumPy, so only now that BLAS is pinned
    prefer_passive_wait(environ)
    blas = "1 BLAS thread" if pinned else "BLAS threads from " + ", ".join(v for v in BLAS_VARS if v in environ)
    numba_threads = environ.get("NUMBA_NUM_THREADS", f"{os.cpu_count() or 1} (all cores)")
    spin = f", GOMP_SPINCOUNT={environ['GOMP_SPINCOUNT']}" if "GOMP_SPINCOUNT" in environ else ""
    return (f"{blas}, {numba_threads} Numba thread(s), OMP_WAIT_POLICY={environ['OMP_WAIT_POLICY']}{spin} "
            f"(set OPENBLAS_NUM_THREADS / NUMBA_NUM_THREADS to choose)")


def usage():
    lines = ["usage: tinyllm <command> [--key=value ...]", "", "commands:"]
    lines += [f"  {name:<9} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run `tinyllm <command> --help` for the options of one command."]
    return "\n".join(lines)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        import difflib
        close = difflib.get_close_matches(name, COMMANDS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        print(f"tinyllm: unknown command {name!r}.{hint}\n\n{usage()}", file=sys.stderr)
        return 2
    threads = pin_blas_threads(name, os.environ)
    if threads and name in SHOW_THREADS:
        print(f"tinyllm: {threads}", file=sys.stderr)
    target = COMMANDS[name][0]
    module_name, func_name = target.split(":")
    try:
        module = import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and e.name.startswith("tinyllm"):
            print(f"tinyllm: command {name!r} is not available in this version ({e.name} missing).", file=sys.stderr)
            return 2
        raise
    code = getattr(module, func_name)(rest)
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
