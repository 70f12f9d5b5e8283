"""Benchmark tinyllm's kernels: the matmul GFLOP/s table, then each fused kernel, Numba twin vs NumPy twin.

    python scripts/bench_kernels.py                      # both tables, Numba's default threads
    python scripts/bench_kernels.py --threads=1 --rounds=5
    python scripts/bench_kernels.py --only=fused --torch=0

Options (--key=value): threads (Numba, BLAS and torch threads; 0 = leave the defaults), rounds (timed rounds;
the median is reported, the best in brackets), min_time (seconds each round runs an op), only
(all | matmul | fused), sizes (matmul n's, comma-separated), torch (1 = add a PyTorch column when importable),
clock (wall | cpu | auto). auto = CPU time of this process with --threads=1 (robust when other programs share
the cores: time spent descheduled is not counted) and wall time otherwise (CPU time would add up the threads).
All numbers come from this run on this machine, so compare the ratios, not the absolute times.
"""
import os
import sys

OPTIONS = {"threads": 0, "rounds": 5, "min_time": 0.05, "only": "all", "sizes": "64,128,256,512,1024", "torch": 1,
           "clock": "auto"}


def parse(argv):
    """--key=value pairs over OPTIONS, with the type of each default; unknown keys are an error."""
    opts = dict(OPTIONS)
    for arg in argv:
        key, sep, value = arg.lstrip("-").partition("=")
        if not arg.startswith("--") or not sep or key not in OPTIONS:
            sys.exit(f"unknown or malformed option {arg!r}; options are --" + ", --".join(f"{k}=" for k in OPTIONS))
        opts[key] = type(OPTIONS[key])(value)
    return opts


opts = parse(sys.argv[1:])
if opts["threads"]:  # BLAS reads these when NumPy loads it, so they are set before `import numpy`
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(opts["threads"])

import importlib  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import numba  # noqa: E402
from tinyllm.kernels import _blas  # noqa: E402

K = {name: importlib.import_module(f"tinyllm.kernels.{name}")
     for name in ("matmul", "softmax", "cross_entropy", "layernorm", "gelu", "attention")}
torch = None
if opts["torch"]:
    try:
        import torch  # noqa: E402  (a peer for comparison only; never a dependency)
    except ImportError:
        torch = None
if opts["threads"]:
    numba.set_num_threads(opts["threads"])
    if torch is not None:
        torch.set_num_threads(opts["threads"])


CLOCK = opts["clock"] if opts["clock"] != "auto" else ("cpu" if opts["threads"] == 1 else "wall")
now = time.process_time if CLOCK == "cpu" else time.perf_counter


def timeit(fn, rounds=None):
    """Median and best seconds per call of fn(): each round repeats fn for at least min_time seconds."""
    fn()  # warm-up (and Numba's compile or cache load)
    t0 = now()
    fn()
    one = max(now() - t0, 1e-7)
    reps = max(1, int(opts["min_time"] / one))
    per_call = []
    for _ in range(rounds or opts["rounds"]):
        t0 = now()
        for _ in range(reps):
            fn()
        per_call.append((now() - t0) / reps)
    return float(np.median(per_call)), float(min(per_call))


def fmt(x):
    return f"{x:.3g}" if x < 1000 else f"{x:.0f}"


# ------------------------------------------------------------------------------------------------ matmul table

def pure_python_matmul(a, b):
    """The lecture's starting point: three nested Python loops over lists."""
    n, k, m = len(a), len(b), len(b[0])
    out = [[0.0] * m for _ in range(n)]
    for i in range(n):
        for j in range(m):
            acc = 0.0
            for p in range(k):
                acc += a[i][p] * b[p][j]
            out[i][j] = acc
    return out


def matmul_table():
    sizes = [int(s) for s in opts["sizes"].split(",")]
    methods = [("pure Python triple loop (lists)", 64), ("Numba naive i-j-k loop", 512), ("Numba i-k-j loop", 1024),
               ("NumPy np.matmul (BLAS)", None), ("tinyllm matmul_numba", None)]
    if torch is not None:
        methods.append(("torch.matmul", None))
    for dtype in (np.float32, np.float64):
        print(f"\n**matmul, {np.dtype(dtype).name}**: GFLOP/s = 2 n^3 / time, median of rounds (best)\n")
        print("| method | " + " | ".join(f"n={n}" for n in sizes) + " |")
        print("|---" * (len(sizes) + 1) + "|")
        rng = np.random.default_rng(0)
        rows = {name: [] for name, _ in methods}
        python_rate = None
        for n in sizes:
            a, b = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))
            flops = 2.0 * n ** 3
            for name, limit in methods:
                print(f"  ... {name} n={n} {np.dtype(dtype).name}", file=sys.stderr, flush=True)
                if name.startswith("pure"):
                    if n <= limit:
                        al, bl = a.tolist(), b.tolist()
                        med, best = timeit(lambda: pure_python_matmul(al, bl), rounds=1)
                        python_rate = flops / med / 1e9
                        rows[name].append(f"{fmt(python_rate)}")
                    else:  # constant work per inner step: its rate does not grow with n, so extrapolate it
                        rows[name].append(f"~{fmt(python_rate)} (extrap.)" if python_rate else "n/a")
                    continue
                if limit is not None and n > limit:
                    rows[name].append("n/a (too slow)")
                    continue
                fn = {"Numba naive i-j-k loop": lambda: K["matmul"].matmul_naive_numba(a, b),
                      "Numba i-k-j loop": lambda: K["matmul"].matmul_loops_numba(a, b),
                      "NumPy np.matmul (BLAS)": lambda: np.matmul(a, b),
                      "tinyllm matmul_numba": lambda: K["matmul"].matmul_numba(a, b)}.get(name)
                if name == "torch.matmul":
                    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
                    fn = lambda: torch.matmul(ta, tb)  # noqa: E731
                med, best = timeit(fn, rounds=1 if n >= 512 and "loop" in name else None)
                rows[name].append(f"{fmt(flops / med / 1e9)} ({fmt(flops / best / 1e9)})")
        for name, _ in methods:
            print(f"| {name} | " + " | ".join(rows[name]) + " |")


# ----------------------------------------------------------------------------------------------- fused kernels

def fused_cases(rng):
    """(label, shape note, {twin: fn}) at the small GPTs' shapes; each fn runs forward + backward."""
    cases = []
    S, C, L, G, A, M = (K[n] for n in ("softmax", "cross_entropy", "layernorm", "gelu", "attention", "matmul"))
    f32 = np.float32
    for shape in ((48, 64, 64), (768, 65)):
        x, dy = rng.standard_normal(shape).astype(f32), rng.standard_normal(shape).astype(f32)
        cases.append(("softmax fwd", shape, {tw: (lambda tw=tw, x=x: getattr(S, f"softmax_forward_{tw}")(x))
                                              for tw in ("numpy", "numba")}))
        y = S.softmax_forward_numpy(x)
        cases.append(("softmax bwd", shape, {tw: (lambda tw=tw, y=y, dy=dy: getattr(S, f"softmax_backward_{tw}")(y, dy))
                                              for tw in ("numpy", "numba")}))
        cases.append(("softmax fwd+bwd", shape, {tw: (lambda tw=tw, x=x, dy=dy: getattr(S, f"softmax_backward_{tw}")(
            getattr(S, f"softmax_forward_{tw}")(x), dy)) for tw in ("numpy", "numba")}))
    for shape in ((768, 128), (4096, 384)):
        x, dy = rng.standard_normal(shape).astype(f32), rng.standard_normal(shape).astype(f32)
        w, b = rng.standard_normal(shape[-1]).astype(f32), rng.standard_normal(shape[-1]).astype(f32)

        def ln(tw, x=x, dy=dy, w=w, b=b):
            y, mean, rstd = getattr(L, f"layernorm_forward_{tw}")(x, w, b)
            return getattr(L, f"layernorm_backward_{tw}")(dy, x, w, mean, rstd)
        cases.append(("layernorm fwd+bwd", shape, {tw: (lambda tw=tw, ln=ln: ln(tw)) for tw in ("numpy", "numba")}))
    for shape in ((768, 65), (768, 512)):
        x = rng.standard_normal(shape).astype(f32)
        t = rng.integers(0, shape[1], shape[0])

        def ce(tw, x=x, t=t):
            losses, lse = getattr(C, f"cross_entropy_forward_{tw}")(x, t)
            return getattr(C, f"cross_entropy_backward_{tw}")(x, t, lse, 1.0 / len(t))
        cases.append(("cross-entropy fwd+bwd", shape, {tw: (lambda tw=tw, ce=ce: ce(tw)) for tw in ("numpy", "numba")}))
    x, dy = rng.standard_normal((768, 512)).astype(f32), rng.standard_normal((768, 512)).astype(f32)
    cases.append(("GELU (tanh) fwd+bwd", (768, 512), {tw: (lambda tw=tw: (getattr(G, f"gelu_forward_{tw}")(x),
                                                                         getattr(G, f"gelu_backward_{tw}")(x, dy)))
                                                       for tw in ("numpy", "numba")}))
    q, kt = rng.standard_normal((48, 64, 32)).astype(f32), rng.standard_normal((48, 64, 32)).astype(f32)
    kT = np.swapaxes(kt, -1, -2)
    cases.append(("batched matmul q @ k^T", (48, 64, 32), {"numpy": lambda: M.matmul_numpy(q, kT),
                                                           "numba": lambda: M.matmul_numba(q, kT)}))
    for T in (64, 256):
        q, k, v = (rng.standard_normal((48, T, 32)).astype(f32) for _ in range(3))
        do = rng.standard_normal((48, T, 32)).astype(f32)

        def att(tw, q=q, k=k, v=v, do=do):
            out, lse = getattr(A, f"attention_forward_{tw}")(q, k, v, None, True)
            return getattr(A, f"attention_backward_{tw}")(q, k, v, out, lse, do, None, True)
        cases.append(("causal attention fwd", (48, T, 32), {tw: (lambda tw=tw, q=q, k=k, v=v: getattr(
            A, f"attention_forward_{tw}")(q, k, v, None, True)) for tw in ("numpy", "numba")}))
        cases.append(("causal attention fwd+bwd", (48, T, 32), {tw: (lambda tw=tw, att=att: att(tw))
                                                                for tw in ("numpy", "numba")}))
    return cases


def torch_peer(label, shape, rng):
    """The same fwd(+bwd) in PyTorch (autograd for the backward), or None when there is no direct peer."""
    x = torch.from_numpy(rng.standard_normal(shape).astype(np.float32))
    F = torch.nn.functional
    if label.startswith("softmax") or label.startswith("layernorm") or label.startswith("GELU"):
        op = {"softmax": lambda t: torch.softmax(t, -1), "layernorm": lambda t: F.layer_norm(t, t.shape[-1:]),
              "GELU": lambda t: F.gelu(t, approximate="tanh")}[label.split()[0]]
        if label.endswith("fwd"):
            return lambda: op(x)
        xg = x.clone().requires_grad_(True)
        if label.endswith("bwd") and not label.endswith("fwd+bwd"):
            y = op(xg)
            return lambda: torch.autograd.grad(y, xg, torch.ones_like(y), retain_graph=True)
        return lambda: op(xg).sum().backward()
    if label.startswith("cross-entropy"):
        xg, t = x.clone().requires_grad_(True), torch.from_numpy(rng.integers(0, shape[1], shape[0]))
        return lambda: F.cross_entropy(xg, t).backward()
    if label.startswith("batched matmul"):
        k = torch.from_numpy(rng.standard_normal(shape).astype(np.float32))
        return lambda: torch.bmm(x, k.transpose(1, 2))
    if label.startswith("causal attention"):
        q, k, v = (torch.from_numpy(rng.standard_normal(shape).astype(np.float32)).requires_grad_(True)
                   for _ in range(3))
        sdpa = F.scaled_dot_product_attention
        if label.endswith("fwd"):
            return lambda: sdpa(q, k, v, is_causal=True)
        return lambda: sdpa(q, k, v, is_causal=True).sum().backward()
    return None


def fused_table():
    rng = np.random.default_rng(0)
    peer = torch is not None
    print("\n**fused kernels, float32, small-GPT shapes**: µs per call, median of rounds (best); "
          "ratio = NumPy twin time / Numba twin time\n")
    head = "| kernel | shape | NumPy twin µs | Numba twin µs | Numba speed-up |" + (" torch µs |" if peer else "")
    print(head)
    print("|---" * (head.count("|") - 1) + "|")
    for label, shape, fns in fused_cases(rng):
        print(f"  ... {label} {shape}", file=sys.stderr, flush=True)
        t_np, t_nb = timeit(fns["numpy"]), timeit(fns["numba"])
        row = (f"| {label} | {'x'.join(map(str, shape))} | {fmt(t_np[0] * 1e6)} ({fmt(t_np[1] * 1e6)}) | "
               f"{fmt(t_nb[0] * 1e6)} ({fmt(t_nb[1] * 1e6)}) | {t_np[0] / t_nb[0]:.2f}x |")
        if peer:
            fn = torch_peer(label, shape, rng)
            row += f" {fmt(timeit(fn)[0] * 1e6)} |" if fn is not None else " n/a |"
        print(row, flush=True)


def main():
    blas = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"# tinyllm kernel benchmark: numba {numba.__version__} ({numba.get_num_threads()} threads, layer "
          f"{numba.config.THREADING_LAYER}), numpy {np.__version__} (BLAS threads: {blas}), "
          f"Numba BLAS via SciPy: {_blas.HAVE_SCIPY}, torch: "
          f"{torch.__version__ + f' ({torch.get_num_threads()} threads)' if torch is not None else 'not installed'}")
    print(f"# options: {' '.join(f'--{k}={v}' for k, v in opts.items())}; clock: {CLOCK} time; progress on stderr")
    if opts["only"] in ("all", "matmul"):
        matmul_table()
    if opts["only"] in ("all", "fused"):
        fused_table()


if __name__ == "__main__":
    main()
