"""Selective scan speed: the Numba kernel (forward + backward) against the sequential NumPy reference, same run.

    python scripts/bench_scan.py                          # B=12, L=256, D=256, N=16, float32, 1 and 2 threads
    python scripts/bench_scan.py --L=64 --repeats=5
    python scripts/bench_scan.py --threads 1 --torch     # plus the PyTorch peer (a Python loop: minutes)

Prints the median time of each and the ratio (the issue's target: Numba >= 20x the reference). The machine is
shared: the 1-thread ratio is the robust number, and CPU time moves less with the load than wall time. An optional
PyTorch peer (a Python loop over t, as in mamba-minimal) is timed with --torch.
"""
import argparse
import statistics
import time

import numpy as np


def make(Bt, L, D, N, dtype, seed=0):
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(Bt, L, D))
    delta = np.log1p(np.exp(rng.normal(size=(Bt, L, D)) - 2))       # softplus, like Mamba's Δ
    A = -np.exp(rng.normal(size=(D, N)))
    B, C = rng.normal(size=(Bt, L, N)), rng.normal(size=(Bt, L, N))
    return [a.astype(dtype) for a in (u, delta, A, B, C)]


def fwd_bwd(fwd, bwd, args):
    y, ckpt, _ = fwd(*args)
    bwd(*args, None, None, ckpt, np.ones_like(y))                     # no skip D, no gate z


def median_time(fn, repeats):
    """(median wall seconds, median CPU seconds) of fn() after one warm-up call (Numba compiles there). CPU time
    counts only this process's work, so on a loaded machine it moves less than wall time."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def torch_peer(args, repeats):
    """A mamba-minimal-style scan in PyTorch: a Python loop over t, autograd for the backward."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    u, delta, A, B, C = (torch.tensor(a, requires_grad=True) for a in args)

    def run():
        dA = torch.exp(delta[..., None] * A)                          # (Bt, L, D, N)
        dBu = (delta * u)[..., None] * B[:, :, None, :]
        h = torch.zeros_like(dA[:, 0])
        ys = []
        for t in range(u.shape[1]):
            h = dA[:, t] * h + dBu[:, t]
            ys.append((h * C[:, t, None, :]).sum(-1))
        torch.stack(ys, 1).sum().backward()
    return median_time(run, repeats)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name, default in (("B", 12), ("L", 256), ("D", 256), ("N", 16), ("repeats", 3)):
        p.add_argument(f"--{name}", type=int, default=default)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--torch", action="store_true", help="also time the PyTorch peer (slow: ~1 min per call)")
    a = p.parse_args()
    from tinyllm import kernels
    from tinyllm.kernels import scan
    args = make(a.B, a.L, a.D, a.N, np.dtype(a.dtype))
    print(f"selective scan fwd+bwd, B={a.B} L={a.L} D={a.D} N={a.N} {a.dtype}; median of {a.repeats}")
    print("timing the sequential NumPy reference ...", flush=True)
    ref = median_time(lambda: fwd_bwd(scan.selective_scan_forward_numpy, scan.selective_scan_backward_numpy, args),
                      a.repeats)
    print("| implementation | threads | wall ms | speed-up (wall) | CPU ms | speed-up (CPU) |\n|---|---|---|---|---|---|")
    print(f"| NumPy reference (loop over t) | 1* | {ref[0] * 1e3:.0f} | 1.0x | {ref[1] * 1e3:.0f} | 1.0x |", flush=True)
    rows = []
    for n in a.threads:
        kernels.set_num_threads(n)
        rows.append((f"Numba kernel | {n}", median_time(
            lambda: fwd_bwd(scan.selective_scan_forward_numba, scan.selective_scan_backward_numba, args), a.repeats)))
        print(f"| {rows[-1][0]} | {rows[-1][1][0] * 1e3:.1f} | {ref[0] / rows[-1][1][0]:.1f}x | "
              f"{rows[-1][1][1] * 1e3:.1f} | {ref[1] / rows[-1][1][1]:.1f}x |", flush=True)
    t_torch = torch_peer(args, a.repeats) if a.torch else None
    if t_torch is not None:
        print(f"| PyTorch loop over t (peer) | 1 | {t_torch[0] * 1e3:.0f} | {ref[0] / t_torch[0]:.1f}x | "
              f"{t_torch[1] * 1e3:.0f} | {ref[1] / t_torch[1]:.1f}x |")
    print("* the reference's vectorised NumPy ops use one core (BLAS is not involved); with 2 threads CPU time "
          "adds both cores")


if __name__ == "__main__":
    main()
