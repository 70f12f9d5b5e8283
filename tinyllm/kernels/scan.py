"""The selective scan of Mamba (Gu & Dao 2023, Algorithm 2 / Section 3.3): a Numba kernel beside its NumPy twin.

For each batch row, channel d and state index n, with the discretised Ā = exp(Δ A) and B̄ x = Δ B x (Section 2):

    h_t[d, n] = exp(delta_t[d] A[d, n]) h_{t-1}[d, n] + delta_t[d] B_t[n] u_t[d]      (h_{-1} = h0, default 0)
    y_t[d]    = sum_n C_t[n] h_t[d, n] + D[d] u_t[d]                                    (D: the skip, optional)
    out_t[d]  = y_t[d] * silu(z_t[d])                                                  (z: the gate, optional)

Shapes (README glossary; here D is the scanned channel count, N the state size, Bt the batch):
    u, delta, z, out (Bt, L, D)    A (D, N)    B, C (Bt, L, N)    D (D,)    h0, h_last (Bt, D, N)

As in the official kernel's signature (selective_scan_fn(u, delta, A, B, C, D, z, delta_softplus)), the skip, the
gate and Δ's softplus run inside the scan: delta_softplus=True takes the raw Δ input. Fused, they cost one pass
over (Bt, L, D) numbers, where separate graph nodes would each read and write those arrays (and keep copies for
their backward); and Ā = exp(Δ A), B̄ u never exist as (Bt, L, D, N) tensors.

Memory: storing every h_t costs Bt*L*D*N numbers (12*256*256*16 floats = 50 MB); instead the forward keeps the
state entering each chunk of `chunk` steps, h_ckpt (Bt, ceil(L/chunk), N, D), and the backward recomputes one
chunk's states at a time before walking it in reverse. Time stays O(L D N) (the forward runs twice), memory is
O(L/chunk * D N + chunk * D N) per row. The official kernel fuses the same recomputation in GPU SRAM; this one is
sequential in t (parallel over batch rows), which is also what PERF.md recommends over log-cumsum scans that
overflow float32 for long sequences.

Backward (a reverse loop through the recurrence; dy = dout * silu(z), g_t = dL/dh_t accumulated from the future):
    g_t        = dy_t[d] C_t[n] + Ā_{t+1} g_{t+1}
    dC_t[n]    = sum_d dy_t[d] h_t[d, n]
    dB_t[n]    = sum_d g_t[d, n] delta_t[d] u_t[d]
    du_t[d]    = delta_t[d] sum_n g_t[d, n] B_t[n] + dy_t[d] D[d]
    ddelta_t[d] = sum_n g_t h_{t-1} Ā_t A[d, n] + g_t B_t[n] u_t[d]     (times sigmoid(raw Δ) with delta_softplus)
    dA[d, n]   = sum_{b,t} g_t h_{t-1} Ā_t delta_t[d]
    dD[d]      = sum_{b,t} dy_t[d] u_t[d],      dz_t[d] = dout_t[d] y_t[d] silu'(z_t[d])
"""
import numpy as np

from ._rows import FASTMATH, exp_nonpos, is_float, njit, prange, threads_for

try:
    from ._exp import as_dtype_of
except ImportError:  # no Numba: the kernels are plain Python and unused
    def as_dtype_of(value, t):
        """value unchanged (the Numba-less stand-in)."""
        return value


def _check(u, delta, A, B, C, D, z, chunk):
    """Shapes (Bt, L, Dc, N) after checking every argument against the documented layout."""
    if u.ndim != 3:
        raise ValueError(f"selective_scan: u must be (Bt, L, D), got shape {u.shape}")
    Bt, L, Dc = u.shape
    if delta.shape != u.shape:
        raise ValueError(f"selective_scan: delta must have u's shape {u.shape}, got {delta.shape}")
    if A.ndim != 2 or A.shape[0] != Dc:
        raise ValueError(f"selective_scan: A must be (D, N) with D={Dc}, got shape {A.shape}")
    N = A.shape[1]
    for name, m in (("B", B), ("C", C)):
        if m.shape != (Bt, L, N):
            raise ValueError(f"selective_scan: {name} must be (Bt, L, N) = {(Bt, L, N)}, got {m.shape}")
    if D is not None and D.shape != (Dc,):
        raise ValueError(f"selective_scan: D must have shape ({Dc},), got {D.shape}")
    if z is not None and z.shape != u.shape:
        raise ValueError(f"selective_scan: z must have u's shape {u.shape}, got {z.shape}")
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ValueError(f"selective_scan: chunk must be a positive integer, got {chunk!r}")
    return Bt, L, Dc, N


def _out_dtype(u):
    """Results keep u's float dtype (float64 for integer input)."""
    return u.dtype if u.dtype.kind == "f" else np.dtype(np.float64)


def _n_chunks(L, chunk):
    return max(1, -(-L // chunk))


# ---- NumPy reference: a loop over t, vectorised over (Bt, D, N), arithmetic in float64 -------------------------
def softplus_numpy(x):
    """log(1 + e^x) without overflow; Mamba's Δ = softplus(dt_proj(.)) when delta_softplus=True."""
    return np.logaddexp(0.0, x)


def sigmoid_numpy(x):
    """1 / (1 + e^-x), written with tanh so no exp overflows."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _as64(*arrays):
    return [None if a is None else np.asarray(a, dtype=np.float64) for a in arrays]


def selective_scan_forward_numpy(u, delta, A, B, C, D=None, z=None, h0=None, chunk=16, delta_softplus=False):
    """(out (Bt, L, D), h_ckpt (Bt, ceil(L/chunk), N, D), h_last (Bt, D, N)), all in u's dtype.

    h_ckpt[:, c] is the state entering step c*chunk, stored transposed (N, D) as the Numba kernel wants it."""
    Bt, L, Dc, N = _check(u, delta, A, B, C, D, z, chunk)
    out_dtype = _out_dtype(u)
    u, delta, A, B, C, D, z = _as64(u, delta, A, B, C, D, z)
    delta = softplus_numpy(delta) if delta_softplus else delta
    h = np.zeros((Bt, Dc, N)) if h0 is None else np.array(h0, dtype=np.float64)
    y = np.empty((Bt, L, Dc))
    h_ckpt = np.zeros((Bt, _n_chunks(L, chunk), N, Dc))
    for t in range(L):
        if t % chunk == 0:
            h_ckpt[:, t // chunk] = np.swapaxes(h, 1, 2)                          # stored (N, D)
        A_bar = np.exp(delta[:, t, :, None] * A)                                   # (Bt, D, N)
        h = A_bar * h + (delta[:, t] * u[:, t])[:, :, None] * B[:, t, None, :]     # (Bt, D, N)
        y[:, t] = np.einsum("bdn,bn->bd", h, C[:, t])                            # (Bt, D)
    y = y if D is None else y + D * u
    out = y if z is None else y * z * sigmoid_numpy(z)
    return out.astype(out_dtype), h_ckpt.astype(out_dtype), h.astype(out_dtype)


def selective_scan_backward_numpy(u, delta, A, B, C, D, z, h_ckpt, dout, chunk=16, delta_softplus=False):
    """Gradients (du, ddelta, dA, dB, dC, dD, dz) of sum(dout * out) by the reverse loop in the module docstring;
    dD and dz are None when D and z are. ddelta is with respect to the raw input when delta_softplus."""
    Bt, L, Dc, N = _check(u, delta, A, B, C, D, z, chunk)
    out_dtype = _out_dtype(u)
    u, delta, A, B, C, D, z, h_ckpt, dout = _as64(u, delta, A, B, C, D, z, h_ckpt, dout)
    raw, delta = delta, (softplus_numpy(delta) if delta_softplus else delta)
    dy = dout if z is None else dout * z * sigmoid_numpy(z)                      # (Bt, L, D) through the gate
    y = np.empty((Bt, L, Dc))                                                     # y before the gate, for dz
    du, ddelta = np.zeros((Bt, L, Dc)), np.zeros((Bt, L, Dc))
    dB, dC, dA = np.zeros((Bt, L, N)), np.zeros((Bt, L, N)), np.zeros((Dc, N))
    g = np.zeros((Bt, Dc, N))                                                     # dL/dh_t from the future
    for c in reversed(range(_n_chunks(L, chunk))):
        t0, t1 = c * chunk, min(L, (c + 1) * chunk)
        hs, A_bars = [np.swapaxes(h_ckpt[:, c], 1, 2)], []                       # recompute this chunk
        for t in range(t0, t1):
            A_bars.append(np.exp(delta[:, t, :, None] * A))
            hs.append(A_bars[-1] * hs[-1] + (delta[:, t] * u[:, t])[:, :, None] * B[:, t, None, :])
        for t in reversed(range(t0, t1)):
            j = t - t0
            h_t, h_prev, A_bar = hs[j + 1], hs[j], A_bars[j]
            y[:, t] = np.einsum("bdn,bn->bd", h_t, C[:, t])
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
        ddelta *= sigmoid_numpy(raw)
    dD = dz = None
    if D is not None:
        du += dy * D
        dD = np.einsum("bld,bld->d", dy, u)
        y += D * u
    if z is not None:
        s = sigmoid_numpy(z)
        dz = dout * y * s * (1.0 + z * (1.0 - s))                                 # silu'(z) = s (1 + z (1 - s))
    grads = (du, ddelta, dA, dB, dC, dD, dz)
    return tuple(None if a is None else a.astype(out_dtype) for a in grads)


# ---- Numba: the same loops per batch row, in the input dtype, parallel over rows ----------------------------------
# Inside the kernel the state is laid out (N, D), not (D, N): the innermost loop then runs over the channels
# (contiguous numbers, which LLVM turns into SIMD) instead of over the N = 16 states of one channel. Constants go
# through as_dtype_of so float32 stays float32; error_model="numpy" drops the division-by-zero branch that would
# stop the loops from vectorising.
@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _log1p_01(e):
    """log(1 + e) for e in [0, 1], vectorisable (libm's log1p is a scalar call): 2 atanh(s) with s = e / (2 + e)
    in [0, 1/3], by its series 2 s (1 + w/3 + w^2/5 + ... + w^16/33), w = s^2 <= 1/9; the terms left out are
    below 1e-18 relative. Horner written out: a loop here would stop the caller's loop from vectorising."""
    s = e / (as_dtype_of(2.0, e) + e)
    w = s * s
    p = as_dtype_of(1 / 33, e) * w + as_dtype_of(1 / 31, e)
    p = (p * w + as_dtype_of(1 / 29, e)) * w + as_dtype_of(1 / 27, e)
    p = (p * w + as_dtype_of(1 / 25, e)) * w + as_dtype_of(1 / 23, e)
    p = (p * w + as_dtype_of(1 / 21, e)) * w + as_dtype_of(1 / 19, e)
    p = (p * w + as_dtype_of(1 / 17, e)) * w + as_dtype_of(1 / 15, e)
    p = (p * w + as_dtype_of(1 / 13, e)) * w + as_dtype_of(1 / 11, e)
    p = (p * w + as_dtype_of(1 / 9, e)) * w + as_dtype_of(1 / 7, e)
    p = (p * w + as_dtype_of(1 / 5, e)) * w + as_dtype_of(1 / 3, e)
    p = p * w + as_dtype_of(1.0, e)
    return as_dtype_of(2.0, e) * s * p


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy", inline="always")
def _softplus(x):
    """log(1 + e^x) = max(x, 0) + log1p(exp(-|x|)), with no overflow for large |x|."""
    return max(x, as_dtype_of(0.0, x)) + _log1p_01(exp_nonpos(-abs(x)))


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy", inline="always")
def _sigmoid(x):
    e = exp_nonpos(-abs(x))
    inv = as_dtype_of(1.0, x) / (as_dtype_of(1.0, x) + e)
    return inv if x >= 0 else e * inv


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _forward_row(u, draw, At, B, C, Dskip, z, h, out, h_ckpt, chunk, softplus):
    """One batch row: u, draw (L, D) (Δ, or its raw input when softplus), At = A^T (N, D), B, C (L, N), Dskip (D,)
    or empty, z (L, D) or empty; h (N, D) updated in place; writes out (L, D) and h_ckpt (n_chunks, N, D)."""
    L, Dc = u.shape
    N = At.shape[0]
    delta = np.empty(Dc, dtype=u.dtype)
    x = np.empty(Dc, dtype=u.dtype)
    y = np.empty(Dc, dtype=u.dtype)
    for t in range(L):
        if t % chunk == 0:
            h_ckpt[t // chunk, :, :] = h
        if softplus:
            for d in range(Dc):
                delta[d] = _softplus(draw[t, d])
        else:
            delta[:] = draw[t]
        for d in range(Dc):
            x[d] = delta[d] * u[t, d]
            y[d] = 0
        for n in range(N):
            b, c = B[t, n], C[t, n]
            for d in range(Dc):
                hn = exp_nonpos(delta[d] * At[n, d]) * h[n, d] + x[d] * b
                h[n, d] = hn
                y[d] += hn * c
        if Dskip.size:
            for d in range(Dc):
                y[d] += Dskip[d] * u[t, d]
        if z.size:
            for d in range(Dc):
                out[t, d] = y[d] * z[t, d] * _sigmoid(z[t, d])
        else:
            out[t] = y


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy", parallel=True)
def _forward_all(u, delta, At, B, C, Dskip, z, h, out, h_ckpt, chunk, softplus, n_threads):
    Bt = u.shape[0]
    if n_threads == 1:
        for b in range(Bt):
            _forward_row(u[b], delta[b], At, B[b], C[b], Dskip, z[b], h[b], out[b], h_ckpt[b], chunk, softplus)
    else:
        for b in prange(Bt):
            _forward_row(u[b], delta[b], At, B[b], C[b], Dskip, z[b], h[b], out[b], h_ckpt[b], chunk, softplus)


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _backward_row(u, draw, At, B, C, Dskip, z, h_ckpt, dout, du, ddelta, dAt, dB, dC, dD, dz, chunk, softplus):
    """One batch row of the reverse loop; dAt (N, D) and dD (D,) accumulate, the other gradients are written."""
    L, Dc = u.shape
    N = At.shape[0]
    f = u.dtype
    hs = np.empty((chunk + 1, N, Dc), f)              # states h_{t0-1} .. h_{t1-1} of the current chunk
    A_bars = np.empty((chunk, N, Dc), f)
    delta, sig = np.empty((chunk, Dc), f), np.empty((chunk, Dc), f)   # Δ and sigmoid(raw Δ) = dΔ/d(raw Δ)
    x, y = np.empty((chunk, Dc), f), np.empty((chunk, Dc), f)         # Δ u, and y before the gate
    g = np.zeros((N, Dc), f)                          # dL/dh_t
    dy = np.empty(Dc, f)                              # dL/dy_t: dout through the gate
    gB = np.empty(Dc, f)                              # sum_n g_t[n, d] B_t[n]
    gA = np.empty(Dc, f)                              # sum_n g_t h_{t-1} Ā_t A[n, d]
    one = as_dtype_of(1.0, u[0, 0])
    for c in range(h_ckpt.shape[0] - 1, -1, -1):
        t0 = c * chunk
        t1 = min(L, t0 + chunk)
        hs[0] = h_ckpt[c]
        for t in range(t0, t1):                       # recompute: the forward recurrence for this chunk
            j = t - t0
            for d in range(Dc):
                if softplus:
                    delta[j, d], sig[j, d] = _softplus(draw[t, d]), _sigmoid(draw[t, d])
                else:
                    delta[j, d], sig[j, d] = draw[t, d], one
                x[j, d] = delta[j, d] * u[t, d]
                y[j, d] = Dskip[d] * u[t, d] if Dskip.size else 0
            for n in range(N):
                b, cc = B[t, n], C[t, n]
                if z.size:                            # dz needs y_t: accumulate it while the states go by
                    for d in range(Dc):
                        a = exp_nonpos(delta[j, d] * At[n, d])
                        A_bars[j, n, d] = a
                        hn = a * hs[j, n, d] + x[j, d] * b
                        hs[j + 1, n, d] = hn
                        y[j, d] += hn * cc
                else:
                    for d in range(Dc):
                        a = exp_nonpos(delta[j, d] * At[n, d])
                        A_bars[j, n, d] = a
                        hs[j + 1, n, d] = a * hs[j, n, d] + x[j, d] * b
        for t in range(t1 - 1, t0 - 1, -1):          # walk the chunk backwards
            j = t - t0
            for d in range(Dc):
                if z.size:
                    s = _sigmoid(z[t, d])
                    dy[d] = dout[t, d] * z[t, d] * s
                    dz[t, d] = dout[t, d] * y[j, d] * s * (one + z[t, d] * (one - s))
                else:
                    dy[d] = dout[t, d]
                gB[d] = 0
                gA[d] = 0
            for n in range(N):
                b, cc = B[t, n], C[t, n]
                acc_dB = b - b
                acc_dC = b - b
                for d in range(Dc):
                    gn = g[n, d] + dy[d] * cc
                    acc_dC += dy[d] * hs[j + 1, n, d]
                    acc_dB += gn * x[j, d]
                    gB[d] += gn * b
                    da = gn * hs[j, n, d] * A_bars[j, n, d]
                    gA[d] += da * At[n, d]
                    dAt[n, d] += da * delta[j, d]
                    g[n, d] = gn * A_bars[j, n, d]
                dB[t, n] = acc_dB
                dC[t, n] = acc_dC
            for d in range(Dc):
                du[t, d] = delta[j, d] * gB[d]
                ddelta[t, d] = (gA[d] + gB[d] * u[t, d]) * sig[j, d]
            if Dskip.size:
                for d in range(Dc):
                    du[t, d] += dy[d] * Dskip[d]
                    dD[d] += dy[d] * u[t, d]


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy", parallel=True)
def _backward_all(u, delta, At, B, C, Dskip, z, h_ckpt, dout, du, ddelta, dAt, dB, dC, dD, dz, chunk, softplus,
                  n_threads):
    Bt = u.shape[0]
    if n_threads == 1:
        for b in range(Bt):
            _backward_row(u[b], delta[b], At, B[b], C[b], Dskip, z[b], h_ckpt[b], dout[b], du[b], ddelta[b], dAt[b],
                          dB[b], dC[b], dD[b], dz[b], chunk, softplus)
    else:
        for b in prange(Bt):
            _backward_row(u[b], delta[b], At, B[b], C[b], Dskip, z[b], h_ckpt[b], dout[b], du[b], ddelta[b], dAt[b],
                          dB[b], dC[b], dD[b], dz[b], chunk, softplus)




def _stable(A, delta, delta_softplus):
    """Ā = exp(Δ A) <= 1, the regime the kernel's exp is written for (A <= 0 and Δ >= 0; softplus makes Δ > 0);
    other inputs run on the reference."""
    return A.max() <= 0 and (delta_softplus or delta.min() >= 0)


def _c(a, like):
    """a as a C-contiguous array of like's dtype; None as an empty placeholder (the kernels test .size)."""
    return np.empty((0,) * like.ndim, like.dtype) if a is None else np.ascontiguousarray(a, like.dtype)


def selective_scan_forward_numba(u, delta, A, B, C, D=None, z=None, h0=None, chunk=16, delta_softplus=False):
    Bt, L, Dc, N = _check(u, delta, A, B, C, D, z, chunk)
    args = [a for a in (u, delta, A, B, C, D, z, h0) if a is not None]
    if not (is_float(*args) and len({a.dtype for a in args}) == 1 and u.size and A.size
            and _stable(A, delta, delta_softplus)):
        return selective_scan_forward_numpy(u, delta, A, B, C, D, z, h0, chunk, delta_softplus)
    u, delta, At, B, C = (np.ascontiguousarray(a) for a in (u, delta, A.T, B, C))
    Dskip, z = _c(D, u[0, 0]), _c(z, u)
    h = np.zeros((Bt, N, Dc), u.dtype) if h0 is None else np.ascontiguousarray(np.swapaxes(h0, 1, 2))
    out = np.empty((Bt, L, Dc), dtype=u.dtype)
    h_ckpt = np.empty((Bt, _n_chunks(L, chunk), N, Dc), dtype=u.dtype)
    _forward_all(u, delta, At, B, C, Dskip, z if z.size else np.empty((Bt, 0, 0), u.dtype), h, out, h_ckpt, chunk,
                 bool(delta_softplus), min(Bt, threads_for(u.size * N)))
    return out, h_ckpt, np.swapaxes(h, 1, 2)


def selective_scan_backward_numba(u, delta, A, B, C, D, z, h_ckpt, dout, chunk=16, delta_softplus=False):
    Bt, L, Dc, N = _check(u, delta, A, B, C, D, z, chunk)
    args = [a for a in (u, delta, A, B, C, D, z, h_ckpt, dout) if a is not None]
    if not (is_float(*args) and len({a.dtype for a in args}) == 1 and u.size and A.size
            and _stable(A, delta, delta_softplus)):
        return selective_scan_backward_numpy(u, delta, A, B, C, D, z, h_ckpt, dout, chunk, delta_softplus)
    u, delta, At, B, C, h_ckpt, dout = (np.ascontiguousarray(a) for a in (u, delta, A.T, B, C, h_ckpt, dout))
    Dskip = _c(D, u[0, 0])
    zz = _c(z, u) if z is not None else np.empty((Bt, 0, 0), u.dtype)
    du, ddelta = np.empty_like(u), np.empty_like(u)
    dz = np.empty_like(u) if z is not None else np.empty((Bt, 0, 0), u.dtype)
    dB, dC = np.empty_like(B), np.empty_like(C)
    dAt = np.zeros((Bt, N, Dc), dtype=u.dtype)          # one partial dA^T (and dD) per row, summed after the loop
    dD = np.zeros((Bt, Dc if D is not None else 0), dtype=u.dtype)
    _backward_all(u, delta, At, B, C, Dskip, zz, h_ckpt, dout, du, ddelta, dAt, dB, dC, dD, dz, chunk,
                  bool(delta_softplus), min(Bt, threads_for(u.size * N)))
    return (du, ddelta, dAt.sum(axis=0).T.copy(), dB, dC, dD.sum(axis=0) if D is not None else None,
            dz if z is not None else None)
