"""Process-wide kernel settings (tinyllm/kernels/runtime.py) and the gapped output buffers of the streaming kernels."""
import os
import subprocess
import sys

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyllm.kernels import _rows, runtime


@settings(max_examples=30)
@given(n=st.integers(0, 5000), dtype=st.sampled_from([np.float32, np.float64, np.int64]))
def test_empty_apart_is_a_fresh_contiguous_array_past_the_gap(n, dtype):
    a = _rows.empty_apart(n, dtype)
    assert a.shape == (n,) and a.dtype == dtype and a.flags.c_contiguous and a.flags.writeable
    if n:  # (an empty view's pointer is meaningless: NumPy points it at the block's start)
        assert a.base is not None and a.ctypes.data - a.base.ctypes.data >= 4096  # never the block's first byte
    a[:] = 7
    assert np.all(a == 7)


def test_keep_freed_memory_is_idempotent_and_honours_the_opt_out():
    first = runtime.keep_freed_memory()
    assert runtime.keep_freed_memory() is first  # one process-wide decision
    code = "from tinyllm.kernels import runtime; print(runtime.keep_freed_memory())"
    env = {**os.environ, "TINYLLM_MALLOC": "default"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


def test_importing_the_kernels_prefers_passive_workers_unless_the_user_chose():
    """Default: parked workers after a short spin; a user's OMP_WAIT_POLICY or GOMP_SPINCOUNT is left alone."""
    code = ("import os; import tinyllm.kernels; "
            "print(os.environ.get('OMP_WAIT_POLICY'), os.environ.get('GOMP_SPINCOUNT'))")
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    for env, want in [(base, "passive 3000"), ({**base, "OMP_WAIT_POLICY": "active"}, "active None"),
                      ({**base, "GOMP_SPINCOUNT": "0"}, "passive 0")]:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == want
