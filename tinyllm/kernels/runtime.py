"""Process-wide settings the kernels run best under: how freed memory is kept, and which thread pool does the work.

Neither changes a single number a kernel computes; both change how long a training step takes.

1. **Keep freed memory.** A training step allocates and frees the same few hundred arrays every iteration. With
   glibc's defaults, large blocks are returned to the kernel on free and faulted in again, page by page, on the
   next step: the baby GPT step took ~8,500 page faults and ~15% of its CPU time in them (measured here, a KVM
   guest where faults are dear). `keep_freed_memory()` raises malloc's mmap and trim thresholds (`mallopt`), so
   freed blocks stay in the process and are reused without faults. Off glibc it does nothing.
2. **One thread pool, whose idle workers sleep.** OpenBLAS (NumPy's and SciPy's copies) and Numba's OpenMP layer
   each keep worker threads, and idle workers spin before sleeping. With two pools on 2 cores they spin against
   each other (a 2-thread baby step took 143 ms against 103 ms on one thread). So tinyllm runs BLAS on one thread
   and does its parallel work in Numba's pool only (set up by `tinyllm/cli.py`): big matmuls as row slabs of BLAS calls,
   attention over (batch, head) items, GELU over element ranges. And that pool's workers wait *passively*
   (OMP_WAIT_POLICY=passive): on a shared host a spinning worker burns its time slice, and the other thread of a
   parallel region then waits for it to be scheduled again. Measured at load average 16 on this 2-core host, a
   768x128 @ 128x384 float32 matmul on 2 threads: 24.8 ms wall spinning (active), 1.1 ms passive, 2.8 ms for
   single-threaded BLAS. On a quiet host passive costs a futex wake-up (microseconds) per parallel region.
"""
import ctypes
import ctypes.util
import os

# glibc mallopt parameter numbers (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 32 << 20  # glibc's maximum on 64-bit: blocks up to 32 MB come from the reusable heap
_TRIM_THRESHOLD = 1 << 30   # keep up to 1 GB of freed heap in the process instead of returning it

_kept = None  # the result of the first keep_freed_memory() call (the setting is process-wide)


def keep_freed_memory():
    """Ask glibc to keep freed blocks for reuse (see the module docstring). True when the setting took effect."""
    global _kept
    if _kept is None:
        _kept = False
        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name) if name else None
            mallopt = getattr(libc, "mallopt", None) if libc is not None else None
        except OSError:
            mallopt = None
        if mallopt is not None and os.environ.get("TINYLLM_MALLOC", "keep") != "default":
            _kept = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD,
                                                                                      _TRIM_THRESHOLD))
    return _kept


def prefer_passive_wait(environ=os.environ):
    """Make OpenMP runtimes loaded from now on park idle workers instead of spinning, unless the user chose a
    policy. Must run before Numba starts its threading layer (its first parallel kernel); tinyllm.kernels calls it
    on import. An OpenMP runtime already loaded (e.g. PyTorch's, if imported first) keeps its own setting.

    Parked, but after a short spin: a worker first polls for GOMP_SPINCOUNT=3000 rounds (tens of microseconds),
    so the next parallel region, usually that close behind, finds it awake (an empty region: 2 us instead of
    10-21 us). Measured with `scripts/bench_train.py --vs=GOMP_SPINCOUNT=...` (2 threads, baby step): 4-6% faster
    on a quiet host, 0-6% slower with two niced CPU hogs; spins of 10^4-10^5 rounds lost up to 56% under load."""
    if "OMP_WAIT_POLICY" not in environ and "GOMP_SPINCOUNT" not in environ:
        environ["GOMP_SPINCOUNT"] = "3000"
    environ.setdefault("OMP_WAIT_POLICY", "passive")

