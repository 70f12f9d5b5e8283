"""Time and peak memory of attention vs sequence length: naive (T x T scores), flash-style tiles, linear, local.

    python scripts/attention_costs.py                       # T = 64..4096, 1 thread, table + log-log slopes
    python scripts/attention_costs.py --plot=attention_costs.png --kv-ckpt=out/compare_gpt/best

What it shows: naive attention's time and memory grow like T^2 (it stores B*H*T*T scores); the flash-style kernel
does the same O(T^2 d) arithmetic but its extra memory grows like T; linear (prefix sums) and local (window w)
attention grow like T in both. A method whose predicted score matrices exceed --budget-mib is skipped, not run.
Timing is CPU time of this process at 1 thread (robust on a shared machine), median of --repeats calls; memory is
the peak resident set above the start of the call (Linux VmHWM after resetting it via /proc/self/clear_refs).
The last section measures the int8 KV cache: bytes saved and the logit error of cached decoding.
"""
import os
import sys

if __name__ == "__main__" and "MALLOC_MMAP_THRESHOLD_" not in os.environ:
    # glibc otherwise raises its mmap threshold after big frees and serves later arrays from already-resident heap
    # pages, which hides them from the peak-RSS measurement; a fixed 64 KiB threshold maps and unmaps each one.
    os.environ["MALLOC_MMAP_THRESHOLD_"] = "65536"
    os.execv(sys.executable, [sys.executable] + sys.argv)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # before NumPy loads BLAS: 1-thread numbers are the robust ones
import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from tinyllm import kernels, no_grad  # noqa: E402
from tinyllm.autograd.tensor import Tensor  # noqa: E402
from tinyllm.kernels import attention as naive_kernels  # noqa: E402
from tinyllm.kernels import flash_attention as flash_kernels  # noqa: E402
from tinyllm.models.linear_attention import linear_attention  # noqa: E402
from tinyllm.models.local_attention import local_attention_banded  # noqa: E402
from tinyllm.plotting import pyplot, save_figure  # noqa: E402

MiB = 1 << 20


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_extra_bytes(fn):
    """Run fn once; return (peak resident bytes above the level at the start, result)."""
    with open("/proc/self/clear_refs", "w") as f:   # "5" resets VmHWM (the peak) to the current VmRSS
        f.write("5")
    start = _status_kib("VmRSS")
    result = fn()
    return max(0, _status_kib("VmHWM") - start) * 1024, result


def cpu_ms(fn, repeats):
    """Median CPU time of fn() in ms over `repeats` calls (after one warm-up call elsewhere)."""
    times = []
    for _ in range(repeats):
        t = time.process_time()
        fn()
        times.append((time.process_time() - t) * 1e3)
    return float(np.median(times))


def methods(q, k, v, window):
    """name -> (forward callable, bytes its score matrices need if materialised, or 0)."""
    B, H, T, D = q.shape
    tq, tk, tv = Tensor(q), Tensor(k), Tensor(v)
    scale = 1.0 / np.sqrt(D)
    return {
        "naive": (lambda: naive_kernels.attention_forward_numpy(q, k, v, None, True), 3 * B * H * T * T * 8),
        "flash": (lambda: flash_kernels.flash_attention_forward_numba(q, k, v, None, True), 0),
        "linear": (lambda: linear_attention(tq, tk, tv, causal=True), 0),
        "local": (lambda: local_attention_banded(tq, tk, tv, window, scale), 0),
    }


def slope(xs, ys):
    """Least-squares slope of log y against log x: the empirical exponent p in y ~ x^p."""
    ok = [(x, y) for x, y in zip(xs, ys) if y and y > 0]
    if len(ok) < 2:
        return float("nan")
    lx, ly = np.log([x for x, _ in ok]), np.log([y for _, y in ok])
    return float(np.polyfit(lx, ly, 1)[0])


def sweep(args):
    rng = np.random.default_rng(0)
    rows = {}
    print(f"B=1 H={args.heads} D={args.head_dim} causal float32, window={args.window}, budget {args.budget_mib} MiB, "
          f"kernels={kernels.backend}, 1 thread")
    print(f"{'T':>5} {'method':>7} {'cpu ms':>10} {'peak extra MiB':>15}")
    tiny = [rng.normal(size=(1, 1, 8, args.head_dim)).astype(np.float32) for _ in range(3)]
    for fn, _ in methods(*tiny, args.window).values():   # warm-up: Numba loads or compiles outside the measurement
        fn()
    for T in args.lengths:
        q, k, v = (rng.normal(size=(1, args.heads, T, args.head_dim)).astype(np.float32) for _ in range(3))
        for name, (fn, need) in methods(q, k, v, args.window).items():
            if need > args.budget_mib * MiB:
                print(f"{T:>5} {name:>7} {'skipped':>10} {'needs ' + format(need / MiB, '.0f'):>15}", flush=True)
                rows[name, T] = (None, None)
                continue
            peak, _ = peak_extra_bytes(fn)          # page-granular: a few KiB reused from the heap show as 0
            ms = cpu_ms(fn, args.repeats if T <= 1024 else 1)
            rows[name, T] = (ms, peak)
            print(f"{T:>5} {name:>7} {ms:>10.2f} {peak / MiB:>15.2f}", flush=True)
    big = [T for T in args.lengths if T >= 512]
    print("\nlog-log slopes for T >= 512 (time ~ T^p, memory ~ T^p; 2 = quadratic, 1 = linear):")
    for name in ("naive", "flash", "linear", "local"):
        ts = [rows[name, T][0] for T in big]
        ms = [rows[name, T][1] for T in big]
        print(f"  {name:>7}: time p = {slope(big, ts):.2f}   memory p = {slope(big, ms):.2f}")
    return rows


def target_256(args):
    """The issue's target: flash within 1.5x of naive's time at T = 256 (forward + backward, CPU time)."""
    rng = np.random.default_rng(1)
    q, k, v = (rng.normal(size=(4, args.heads, 256, args.head_dim)).astype(np.float32) for _ in range(3))
    out, lse = naive_kernels.attention_forward_numpy(q, k, v, None, True)
    dout = rng.normal(size=out.shape).astype(np.float32)
    pairs = {
        "naive (NumPy T x T)": (naive_kernels.attention_forward_numpy, naive_kernels.attention_backward_numpy),
        "row-block (Numba)": (naive_kernels.attention_forward_numba, naive_kernels.attention_backward_numba),
        "flash (Numba tiles)": (flash_kernels.flash_attention_forward_numba,
                                flash_kernels.flash_attention_backward_numba),
    }
    print(f"\nT=256, B=4 H={args.heads} D={args.head_dim} causal float32, CPU ms (median of {args.repeats}):")
    base = None
    for name, (fwd, bwd) in pairs.items():
        fwd(q, k, v, None, True)
        bwd(q, k, v, out, lse, dout, None, True)
        f = cpu_ms(lambda: fwd(q, k, v, None, True), args.repeats)
        b = cpu_ms(lambda: bwd(q, k, v, out, lse, dout, None, True), args.repeats)
        base = f + b if base is None else base
        print(f"  {name:<22} fwd {f:8.2f}  bwd {b:8.2f}  total/naive {(f + b) / base:.2f}x")


def headline_4096(args):
    """At T = 4096 with 16 heads the naive path's float32 T x T scores alone need 1 GiB; the tiles run."""
    T, H = 4096, 16
    need = H * T * T * 4
    rng = np.random.default_rng(2)
    q, k, v = (rng.normal(size=(1, H, T, args.head_dim)).astype(np.float32) for _ in range(3))
    t = time.process_time()
    peak, (out, lse) = peak_extra_bytes(lambda: flash_kernels.flash_attention_forward_numba(q, k, v, None, True))
    t_fwd, t = time.process_time() - t, time.process_time()
    peak_b, _ = peak_extra_bytes(lambda: flash_kernels.flash_attention_backward_numba(q, k, v, out, lse, out, None,
                                                                                      True))
    t_bwd = time.process_time() - t
    out_bytes = H * T * args.head_dim * 4 + H * T * 8
    work = flash_kernels.workspace_bytes(T, T, args.head_dim, args.head_dim)
    work_b = flash_kernels.workspace_bytes(T, T, args.head_dim, args.head_dim, backward=True)
    print(f"\nT=4096, H={H}: naive scores would need {need / MiB:.0f} MiB (float32; the NumPy path uses float64: "
          f"{2 * need / MiB:.0f} MiB per temporary).\n  flash forward: {t_fwd:.1f} s CPU, {peak / MiB:.1f} MiB peak "
          f"extra (outputs {out_bytes / MiB:.1f} MiB, kernel workspace {work / 1024:.0f} KiB per item)\n"
          f"  flash backward: {t_bwd:.1f} s CPU, {peak_b / MiB:.1f} MiB peak extra (dq, dk, dv "
          f"{3 * H * T * args.head_dim * 4 / MiB:.1f} MiB, workspace {work_b / 1024:.0f} KiB per item)")


def kv_int8(args):
    """Bytes of the int8 KV cache vs float32, and the logit error of decoding with it vs full recomputation."""
    from tinyllm.models.gpt import GPT, GPTConfig
    from tinyllm.models.kv_quant import with_int8_cache
    if args.kv_ckpt:
        from tinyllm.training.checkpoint import load_checkpoint
        model = load_checkpoint(args.kv_ckpt).model
        source = args.kv_ckpt
    else:
        model, source = GPT(GPTConfig(), seed=0), "untrained baby GPT (pass --kv-ckpt for a trained one)"
    c = model.config
    idx = np.random.default_rng(3).integers(0, c.vocab_size, size=(4, c.block_size))
    with no_grad():
        full = model(idx).data
        errs = {}
        for name, m in (("float", model), ("int8", with_int8_cache(model))):
            cache = m.new_cache(idx.shape[0])
            steps = [m(idx[:, :8], cache).data] + [m(idx[:, t:t + 1], cache).data for t in range(8, idx.shape[1])]
            errs[name] = (np.abs(np.concatenate(steps, axis=1) - full).max(), cache)
    from tinyllm.sampling.generate import generate
    from tinyllm.sampling.logits import SamplingConfig
    greedy = SamplingConfig(temperature=0.0)
    prompt = [int(t) for t in idx[0, :8]]
    same = [a == b for a, b in zip(generate(model, prompt, 200, greedy),
                                   generate(with_int8_cache(model), prompt, 200, greedy))]
    first = f"first difference at token {same.index(False)}" if False in same else "no difference"
    f_bytes = errs["float"][1].k.nbytes + errs["float"][1].v.nbytes
    q_bytes = errs["int8"][1].nbytes
    print(f"\nKV cache int8 ({source}): {q_bytes / 1024:.0f} KiB vs {f_bytes / 1024:.0f} KiB float "
          f"({q_bytes / f_bytes:.2f}x); max |logit - full recompute|: float cache {errs['float'][0]:.2e}, "
          f"int8 cache {errs['int8'][0]:.2e} (logits span {full.max() - full.min():.1f}); greedy decoding of 200 "
          f"tokens: {sum(same)} identical to the float cache's ({first})")


def plot(rows, args):
    plt = pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name in ("naive", "flash", "linear", "local"):
        Ts = [T for T in args.lengths if rows[name, T][0] is not None]
        axes[0].loglog(Ts, [rows[name, T][0] for T in Ts], "o-", label=name)
        axes[1].loglog(Ts, [max(rows[name, T][1], 4096) / MiB for T in Ts], "o-", label=name)
    for ax, what in zip(axes, ("CPU ms per forward", "peak extra MiB")):
        ax.set_xlabel("sequence length T")
        ax.set_ylabel(what)
        ax.legend()
    fig.tight_layout()
    save_figure(fig, args.plot)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lengths", type=lambda s: [int(x) for x in s.split(",")],
                   default=[64, 128, 256, 512, 1024, 2048, 4096])
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--head-dim", type=int, default=32)
    p.add_argument("--window", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--budget-mib", type=float, default=1024.0)
    p.add_argument("--plot", default="")
    p.add_argument("--kv-ckpt", default="")
    p.add_argument("--skip-4096", action="store_true")
    args = p.parse_args(argv)
    if any(T < 1 for T in args.lengths) or args.heads < 1 or args.head_dim < 1 or args.repeats < 1:
        p.error("--lengths, --heads, --head-dim and --repeats must be positive")
    try:
        import numba
        numba.set_num_threads(1)
    except ImportError:
        pass
    rows = sweep(args)
    target_256(args)
    if not args.skip_4096:
        headline_4096(args)
    kv_int8(args)
    if args.plot:
        plot(rows, args)


if __name__ == "__main__":
    main()
