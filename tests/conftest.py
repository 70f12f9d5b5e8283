"""Shared test set-up: one BLAS thread, and Hypothesis profiles (no deadline since Numba compiles on first call;
derandomised on CI)."""
import os
import sys

# Tests multiply small matrices; with 2 BLAS threads on a shared host each tiny product can stall ~10 ms waiting for
# a descheduled core (measured: a 307 s test took 11 s single-threaded). This must run before NumPy is imported.
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # not OMP_*: Numba's own threads stay as they are
    os.environ.setdefault(_var, "1")
# Scripts that tests import set NUMBA_NUM_THREADS with setdefault (to 1), and Numba raises on any compile once the
# value differs from the one its running pool started with. Writing Numba's own default (all cores) here first
# makes those setdefaults no-ops, so the pool size never changes under the suite.
os.environ.setdefault("NUMBA_NUM_THREADS", str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                                else os.cpu_count() or 1))
BLAS_PINNED = "numpy" not in sys.modules  # False would mean a plugin imported NumPy first and the pin came too late

from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev", deadline=None, max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    "ci", deadline=None, max_examples=30, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
