"""`tinyllm info`: versions, the active kernel backend and thread counts (what to paste into a bug report)."""
import os
import platform
import sys


def main(argv=None):
    import numpy as np

    import tinyllm
    from tinyllm import kernels

    print(f"tinyllm      {tinyllm.__version__}")
    print(f"python       {platform.python_version()} ({sys.executable})")
    print(f"numpy        {np.__version__}")
    try:
        import numba
        print(f"numba        {numba.__version__}")
    except ImportError:
        print("numba        not installed")
    print(f"kernels      {kernels.backend}  (set TINYLLM_KERNELS=numpy|numba to switch)")
    from tinyllm.kernels._blas import HAVE_SCIPY
    print(f"blas in jit  {'yes (SciPy found: np.dot inside Numba kernels calls BLAS)' if HAVE_SCIPY else 'no (SciPy missing: kernels use plain loops)'}")
    print(f"threads      numba={kernels.num_threads()}  cpus={os.cpu_count()}  "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}  "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    return 0
