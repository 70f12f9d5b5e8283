"""Opt-in anomaly detection: raise at the first op whose forward output or backward gradient is not finite.

Off by default because it scans every array (a full pass over memory per op). Turn it on around a failing step:

    with detect_anomaly():
        loss = model.loss(batch); loss.backward()   # FloatingPointError: 'Log' forward produced NaN/Inf ...
"""
import contextlib

import numpy as np

enabled = False  # read by Function.apply and by the backward pass on every op


class AnomalyError(FloatingPointError):
    """A NaN or Inf appeared; the message names the op and the direction (forward or backward)."""


def _bad(array, allow_inf=False):
    a = np.asarray(array)
    if a.dtype.kind != "f" or a.size == 0:
        return False
    return bool(np.isnan(a).any()) if allow_inf else not np.isfinite(a).all()


def check_forward(op_name, out, allow_inf=False):
    """Raise if the output of op `op_name` contains NaN (or Inf, unless the op legitimately makes -inf masks)."""
    if _bad(out, allow_inf):
        raise AnomalyError(f"anomaly: op {op_name!r} forward produced NaN/Inf ({_describe(out)})")


def check_backward(op_name, grad):
    """Raise if a gradient produced by op `op_name`'s backward contains NaN or Inf."""
    if _bad(grad):
        raise AnomalyError(f"anomaly: op {op_name!r} backward produced a NaN/Inf gradient ({_describe(grad)})")


def _describe(a):
    a = np.asarray(a)
    return f"shape {a.shape}, {int(np.isnan(a).sum())} NaN, {int(np.isinf(a).sum())} Inf"


def set_enabled(flag):
    """Turn the check on or off globally; returns the previous setting."""
    global enabled
    previous, enabled = enabled, bool(flag)
    return previous


@contextlib.contextmanager
def detect_anomaly(flag=True):
    """Context manager: check every op's forward output and backward gradient for NaN/Inf inside the block."""
    previous = set_enabled(flag)
    try:
        yield
    finally:
        set_enabled(previous)
