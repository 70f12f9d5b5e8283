"""The selective scan of Mamba (Gu & Dao 2023, Algorithm 2 / Section 3.3): a Numba kernel beside its NumPy twin.

For each batch row, channel d and state index n, with the discretised Ā = exp(Δ A) and B̄ x = Δ B x (Section 2):

    h_t[d, n] = exp(delta_t[d] A[d, n]) h_{t-1}[d, n] + delta_t[d] B_t[n] u_t[d]      (h_{-1} = h0, default 0)
    y_t[d]    = sum_n C_t[n] h_t[d, n]

Shapes (README glossary; here D is the scanned channel count, N the state size, Bt the batch):
    u, delta (Bt, L, D)    A (D, N)    B, C (Bt, L, N)    h0, h_last (Bt, D, N)    y (Bt, L, D)

delta_softplus=True takes the raw Δ input and applies softplus inside (as the official kernel's option does),
sparing the graph a separate softplus node.

Memory: storing every h_t costs Bt*L*D*N numbers (12*256*256*16 floats = 50 MB); instead the forward keeps the
state entering each chunk of `chunk` steps, h_ckpt (Bt, ceil(L/chunk), D, N), and the backward recomputes one
chunk's states at a time before walking it in reverse. Time stays O(L D N) (the forward runs twice), memory is
O(L/chunk * D N + chunk * D N) per row. The official kernel fuses the same recomputation in GPU SRAM; this one is
sequential in t (parallel over batch rows), which is also what PERF.md recommends over log-cumsum scans that
overflow float32 for long sequences.

Backward (a reverse loop through the recurrence, with g_t = dL/dh_t accumulated from the future):
    g_t        = dy_t[d] C_t[n] + Ā_{t+1} g_{t+1}
    dC_t[n]    = sum_d dy_t[d] h_t[d, n]
    dB_t[n]    = sum_d g_t[d, n] delta_t[d] u_t[d]
    du_t[d]    = delta_t[d] sum_n g_t[d, n] B_t[n]
    ddelta_t[d] = sum_n g_t h_{t-1} Ā_t A[d, n] + g_t B_t[n] u_t[d]
    dA[d, n]   = sum_{b,t} g_t h_{t-1} Ā_t delta_t[d]
"""
import numpy as np

from ._rows import FASTMATH, exp_nonpos, is_float, njit, prange, threads_for


def _check(u, delta, A, B, C, chunk):
    """Shapes (Bt, L, D, N) after checking every argument against the documented layout."""
    if u.ndim != 3:
        raise ValueError(f"selective_scan: u must be (Bt, L, D), got shape {u.shape}")
    Bt, L, D = u.shape
    if delta.shape != u.shape:
        raise ValueError(f"selective_scan: delta must have u's shape {u.shape}, got {delta.shape}")
    if A.ndim != 2 or A.shape[0] != D:
        raise ValueError(f"selective_scan: A must be (D, N) with D={D}, got shape {A.shape}")
    N = A.shape[1]
    for name, m in (("B", B), ("C", C)):
        if m.shape != (Bt, L, N):
            raise ValueError(f"selective_scan: {name} must be (Bt, L, N) = {(Bt, L, N)}, got {m.shape}")
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ValueError(f"selective_scan: chunk must be a positive integer, got {chunk!r}")
    return Bt, L, D, N


def _out_dtype(u):
    """Results keep u's float dtype (float64 for integer input)."""
    return u.dtype if u.dtype.kind == "f" else np.dtype(np.float64)


def _n_chunks(L, chunk):
    return max(1, -(-L // chunk))


# ---- NumPy reference: a loop over t, vectorised over (Bt, D, N), arithmetic in float64 -------------------------
def softplus_numpy(x):
    """log(1 + e^x) without overflow; Mamba's Δ = softplus(dt_proj(.)) when delta_softplus=True."""
    return np.logaddexp(0.0, x)


def selective_scan_forward_numpy(u, delta, A, B, C, h0=None, chunk=16, delta_softplus=False):
    """(y (Bt, L, D), h_ckpt (Bt, ceil(L/chunk), N, D), h_last (Bt, D, N)), all in u's dtype.

    h_ckpt[:, c] is the state entering step c*chunk, stored transposed (N, D) as the Numba kernel wants it."""
    Bt, L, D, N = _check(u, delta, A, B, C, chunk)
    f, out = np.float64, _out_dtype(u)
    u, delta, A, B, C = (np.asarray(a, dtype=f) for a in (u, delta, A, B, C))
    delta = softplus_numpy(delta) if delta_softplus else delta
    h = np.zeros((Bt, D, N)) if h0 is None else np.array(h0, dtype=f)
    y = np.empty((Bt, L, D))
    h_ckpt = np.zeros((Bt, _n_chunks(L, chunk), N, D))
    for t in range(L):
        if t % chunk == 0:
            h_ckpt[:, t // chunk] = np.swapaxes(h, 1, 2)                          # stored (N, D)
        A_bar = np.exp(delta[:, t, :, None] * A)                                   # (Bt, D, N)
        h = A_bar * h + (delta[:, t] * u[:, t])[:, :, None] * B[:, t, None, :]     # (Bt, D, N)
        y[:, t] = np.einsum("bdn,bn->bd", h, C[:, t])                            # (Bt, D)
    return y.astype(out), h_ckpt.astype(out), h.astype(out)


def selective_scan_backward_numpy(u, delta, A, B, C, h_ckpt, dy, chunk=16, delta_softplus=False):
    """Gradients (du, ddelta, dA, dB, dC) of sum(dy * y) by the reverse loop in the module docstring (ddelta is
    with respect to the raw input when delta_softplus: times softplus' = sigmoid)."""
    Bt, L, D, N = _check(u, delta, A, B, C, chunk)
    f, out = np.float64, _out_dtype(u)
    u, delta, A, B, C, h_ckpt, dy = (np.asarray(a, dtype=f) for a in (u, delta, A, B, C, h_ckpt, dy))
    raw, delta = delta, (softplus_numpy(delta) if delta_softplus else delta)
    du, ddelta = np.zeros((Bt, L, D)), np.zeros((Bt, L, D))
    dB, dC, dA = np.zeros((Bt, L, N)), np.zeros((Bt, L, N)), np.zeros((D, N))
    g = np.zeros((Bt, D, N))                                                      # dL/dh_t from the future
    for c in reversed(range(_n_chunks(L, chunk))):
        t0, t1 = c * chunk, min(L, (c + 1) * chunk)
        hs, A_bars = [np.swapaxes(h_ckpt[:, c], 1, 2)], []                       # recompute this chunk
        for t in range(t0, t1):
            A_bars.append(np.exp(delta[:, t, :, None] * A))
            hs.append(A_bars[-1] * hs[-1] + (delta[:, t] * u[:, t])[:, :, None] * B[:, t, None, :])
        for t in reversed(range(t0, t1)):
            j = t - t0
            h_t, h_prev, A_bar = hs[j + 1], hs[j], A_bars[j]
            g = g + dy[:, t, :, None] * C[:, t, None, :]                          # (Bt, D, N)
            dC[:, t] = np.einsum("bd,bdn->bn", dy[:, t], h_t)
            gB = np.einsum("bdn,bn->bd", g, B[:, t])                              # (Bt, D)
            dB[:, t] = np.einsum("bdn,bd->bn", g, delta[:, t] * u[:, t])
            du[:, t] = delta[:, t] * gB
            dA_bar = g * h_prev * A_bar                                           # dL/d(delta A), (Bt, D, N)
            ddelta[:, t] = np.einsum("bdn,dn->bd", dA_bar, A) + gB * u[:, t]
            dA += np.einsum("bdn,bd->dn", dA_bar, delta[:, t])
            g = g * A_bar                                                         # to dL/dh_{t-1}
    if delta_softplus:
        ddelta *= 0.5 * (1.0 + np.tanh(0.5 * raw))                                # sigmoid(raw)
    return tuple(g.astype(out) for g in (du, ddelta, dA, dB, dC))


# ---- Numba: the same loops per batch row, in the input dtype, parallel over rows ----------------------------------
# Inside the kernel the state is laid out (N, D), not (D, N): the innermost loop then runs over the D channels
# (hundreds of contiguous numbers, which LLVM turns into SIMD) instead of over the N = 16 states of one channel.
@njit(cache=True, fastmath=FASTMATH)
def _forward_row(u, delta, At, B, C, h, y, h_ckpt, chunk):
    """One batch row: u, delta (L, D), At = A^T (N, D), B, C (L, N), h (N, D) updated in place; writes
    y (L, D) and h_ckpt (n_chunks, N, D)."""
    L, D = u.shape
    N = At.shape[0]
    x = np.empty(D, dtype=u.dtype)
    for t in range(L):
        if t % chunk == 0:
            h_ckpt[t // chunk, :, :] = h
        for d in range(D):
            x[d] = delta[t, d] * u[t, d]
            y[t, d] = 0
        for n in range(N):
            b, c = B[t, n], C[t, n]
            for d in range(D):
                hn = exp_nonpos(delta[t, d] * At[n, d]) * h[n, d] + x[d] * b
                h[n, d] = hn
                y[t, d] += hn * c


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _forward_all(u, delta, At, B, C, h, y, h_ckpt, chunk, n_threads):
    Bt = u.shape[0]
    if n_threads == 1:
        for b in range(Bt):
            _forward_row(u[b], delta[b], At, B[b], C[b], h[b], y[b], h_ckpt[b], chunk)
    else:
        for b in prange(Bt):
            _forward_row(u[b], delta[b], At, B[b], C[b], h[b], y[b], h_ckpt[b], chunk)


@njit(cache=True, fastmath=FASTMATH)
def _backward_row(u, delta, At, B, C, h_ckpt, dy, du, ddelta, dAt, dB, dC, chunk):
    """One batch row of the reverse loop; dAt (N, D) accumulates, the other gradients are written."""
    L, D = u.shape
    N = At.shape[0]
    hs = np.empty((chunk + 1, N, D), dtype=u.dtype)       # states h_{t0-1} .. h_{t1-1} of the current chunk
    A_bars = np.empty((chunk, N, D), dtype=u.dtype)
    g = np.zeros((N, D), dtype=u.dtype)                   # dL/dh_t
    x = np.empty(D, dtype=u.dtype)
    gB = np.empty(D, dtype=u.dtype)                       # sum_n g_t[n, d] B_t[n]
    gA = np.empty(D, dtype=u.dtype)                       # sum_n g_t h_{t-1} Ā_t A[n, d]
    n_chunks = h_ckpt.shape[0]
    for c in range(n_chunks - 1, -1, -1):
        t0 = c * chunk
        t1 = min(L, t0 + chunk)
        hs[0] = h_ckpt[c]
        for t in range(t0, t1):                           # recompute: the forward recurrence for this chunk
            j = t - t0
            for d in range(D):
                x[d] = delta[t, d] * u[t, d]
            for n in range(N):
                b = B[t, n]
                for d in range(D):
                    a = exp_nonpos(delta[t, d] * At[n, d])
                    A_bars[j, n, d] = a
                    hs[j + 1, n, d] = a * hs[j, n, d] + x[d] * b
        for t in range(t1 - 1, t0 - 1, -1):              # walk the chunk backwards
            j = t - t0
            for d in range(D):
                x[d] = delta[t, d] * u[t, d]
                gB[d] = 0
                gA[d] = 0
            for n in range(N):
                b, c_tn = B[t, n], C[t, n]
                acc_dB = b * 0
                acc_dC = b * 0
                for d in range(D):
                    gn = g[n, d] + dy[t, d] * c_tn
                    acc_dC += dy[t, d] * hs[j + 1, n, d]
                    acc_dB += gn * x[d]
                    gB[d] += gn * b
                    da = gn * hs[j, n, d] * A_bars[j, n, d]
                    gA[d] += da * At[n, d]
                    dAt[n, d] += da * delta[t, d]
                    g[n, d] = gn * A_bars[j, n, d]
                dB[t, n] = acc_dB
                dC[t, n] = acc_dC
            for d in range(D):
                du[t, d] = delta[t, d] * gB[d]
                ddelta[t, d] = gA[d] + gB[d] * u[t, d]


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _backward_all(u, delta, At, B, C, h_ckpt, dy, du, ddelta, dAt_rows, dB, dC, chunk, n_threads):
    Bt = u.shape[0]
    if n_threads == 1:
        for b in range(Bt):
            _backward_row(u[b], delta[b], At, B[b], C[b], h_ckpt[b], dy[b], du[b], ddelta[b], dAt_rows[b], dB[b],
                          dC[b], chunk)
    else:
        for b in prange(Bt):
            _backward_row(u[b], delta[b], At, B[b], C[b], h_ckpt[b], dy[b], du[b], ddelta[b], dAt_rows[b], dB[b],
                          dC[b], chunk)


@njit(cache=True, fastmath=FASTMATH)
def _softplus_flat(x, out):
    for i in range(x.size):
        out[i] = max(x[i], 0) + np.log1p(exp_nonpos(-abs(x[i])))


@njit(cache=True, fastmath=FASTMATH)
def _times_sigmoid_flat(g, x):
    for i in range(x.size):
        e = exp_nonpos(-abs(x[i]))                          # sigmoid(x) = 1/(1+e^-x) or e^x/(1+e^x)
        g[i] *= (1 / (1 + e)) if x[i] >= 0 else (e / (1 + e))


def _softplus_numba(delta):
    out = np.empty(delta.shape, dtype=delta.dtype)
    _softplus_flat(np.ascontiguousarray(delta).reshape(-1), out.reshape(-1))
    return out


def _numba_ok(u, delta, A, *others):
    """The kernel's exp assumes delta*A <= 0 (Ā <= 1: the stable regime Mamba's A = -exp(A_log), softplus Δ give);
    other inputs, other dtypes or empty arrays go to the reference."""
    return (is_float(u, delta, A, *others) and len({a.dtype for a in (u, delta, A, *others)}) == 1 and u.size > 0
            and A.size > 0 and A.max() <= 0 and delta.min() >= 0)


def selective_scan_forward_numba(u, delta, A, B, C, h0=None, chunk=16, delta_softplus=False):
    Bt, L, D, N = _check(u, delta, A, B, C, chunk)
    if delta_softplus and is_float(delta):
        delta = _softplus_numba(delta)
    elif delta_softplus:
        return selective_scan_forward_numpy(u, delta, A, B, C, h0, chunk, True)
    if not _numba_ok(u, delta, A, B, C):
        return selective_scan_forward_numpy(u, delta, A, B, C, h0, chunk)
    u, delta, At, B, C = (np.ascontiguousarray(a) for a in (u, delta, A.T, B, C))
    h = np.zeros((Bt, N, D), dtype=u.dtype) if h0 is None else np.ascontiguousarray(np.swapaxes(h0, 1, 2), u.dtype)
    y = np.empty((Bt, L, D), dtype=u.dtype)
    h_ckpt = np.empty((Bt, _n_chunks(L, chunk), N, D), dtype=u.dtype)
    _forward_all(u, delta, At, B, C, h, y, h_ckpt, chunk, min(Bt, threads_for(u.size * N)))
    return y, h_ckpt, np.swapaxes(h, 1, 2)


def selective_scan_backward_numba(u, delta, A, B, C, h_ckpt, dy, chunk=16, delta_softplus=False):
    Bt, L, D, N = _check(u, delta, A, B, C, chunk)
    raw = delta
    if delta_softplus and is_float(delta):
        delta = _softplus_numba(delta)
    if not _numba_ok(u, delta, A, B, C, h_ckpt, dy):
        return selective_scan_backward_numpy(u, raw, A, B, C, h_ckpt, dy, chunk, delta_softplus)
    u, delta, At, B, C, h_ckpt, dy = (np.ascontiguousarray(a) for a in (u, delta, A.T, B, C, h_ckpt, dy))
    du, ddelta = np.empty_like(u), np.empty_like(u)
    dB, dC = np.empty_like(B), np.empty_like(C)
    dAt_rows = np.zeros((Bt, N, D), dtype=u.dtype)       # one partial dA^T per row, summed after the parallel loop
    _backward_all(u, delta, At, B, C, h_ckpt, dy, du, ddelta, dAt_rows, dB, dC, chunk,
                  min(Bt, threads_for(u.size * N)))
    if delta_softplus:
        _times_sigmoid_flat(ddelta.reshape(-1), np.ascontiguousarray(raw).reshape(-1))
    return du, ddelta, dAt_rows.sum(axis=0).T.copy(), dB, dC
