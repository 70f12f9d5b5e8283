"""Scaling-law fits in NumPy (SciPy for one t quantile): IsoFLOP parabolas (approach 2) and L(N, D) (approach 3).

Approach 2 (Hoffmann et al. 2022, section 3.2): at a fixed budget C, loss against log N is roughly a parabola;
its vertex is the compute-optimal N*(C) (and, fitting log D the same way, D*(C)). Power laws through the vertices,
N* ∝ C^a and D* ∝ C^b, give the exponents (Chinchilla: a ≈ b ≈ 0.5).

Approach 3 (section 3.3): fit L(N, D) = E + A/N^α + B/D^β by minimising a Huber loss of the residual in log L,
    log L̂ = LSE(a - α log N,  b - β log D,  e)        with A = e^a, B = e^b, E = e^e,
over a grid of starting points. The optimiser is Levenberg-Marquardt on iteratively reweighted residuals (IRLS:
a Huber loss is a least-squares loss whose weights are 1 inside ±δ and δ/|r| outside). Intervals come from a
bootstrap over the runs. Minimising L under C = 6·N·D gives N_opt ∝ C^(β/(α+β)).
"""
import itertools
from dataclasses import dataclass

import numpy as np

# ---------------------------------------------------------------------------------------- approach 2: parabolas


def _as_positive(name, values):
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise ValueError(f"{name} must be a 1-D array of finite positive numbers, got {values!r}")
    return x


def parabola_vertex(x, y):
    """Fit y = p2·x² + p1·x + p0 by least squares; returns (x at the minimum, y there). Needs p2 > 0."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 3:
        raise ValueError(f"parabola_vertex needs x and y of the same length >= 3, got {x.shape} and {y.shape}")
    p2, p1, p0 = np.polyfit(x, y, 2)
    if not p2 > 0:
        raise ValueError("the points do not curve upwards (no minimum): widen the range of sizes at this budget")
    x_star = -p1 / (2 * p2)
    return float(x_star), float(p0 + p1 * x_star + p2 * x_star ** 2)


@dataclass
class IsoFlopOptimum:
    """The vertex of one budget's parabola: compute-optimal size, tokens and loss at compute C."""
    C: float
    N_opt: float
    D_opt: float
    L_opt: float
    n_runs: int
    inside: bool = True   # False when the vertex lies outside the sizes tried: an extrapolation, widen the grid


def isoflop_optima(runs):
    """One IsoFlopOptimum per budget from run dicts with keys C, N, D, loss (>= 3 runs per budget)."""
    by_budget = {}
    for r in runs:
        by_budget.setdefault(float(r["C"]), []).append(r)
    optima = []
    for C in sorted(by_budget):
        group = by_budget[C]
        if len(group) < 3:
            raise ValueError(f"budget C={C:.3g} has {len(group)} runs; a parabola needs at least 3 sizes")
        logN = np.log([r["N"] for r in group])
        logD = np.log([r["D"] for r in group])
        loss = np.array([r["loss"] for r in group])
        logN_star, L_star = parabola_vertex(logN, loss)
        logD_star, _ = parabola_vertex(logD, loss)
        inside = bool(logN.min() <= logN_star <= logN.max())
        optima.append(IsoFlopOptimum(C, float(np.exp(logN_star)), float(np.exp(logD_star)), L_star, len(group),
                                     inside))
    return optima


def power_law(C, X):
    """Fit X = k·C^p by least squares in log-log; returns (p, k)."""
    logC, logX = np.log(_as_positive("C", C)), np.log(_as_positive("X", X))
    if len(logC) != len(logX) or len(logC) < 2:
        raise ValueError("power_law needs C and X of the same length >= 2")
    p, logk = np.polyfit(logC, logX, 1)
    return float(p), float(np.exp(logk))


def power_law_interval(C, X, level=0.9):
    """(lo, hi) of p in X = k·C^p: the least-squares slope ± Student's t · its standard error (n - 2 dof).

    This interval comes from how far the points scatter around the line, not from how each point was measured.
    """
    from scipy.stats import t as student_t
    logC, logX = np.log(_as_positive("C", C)), np.log(_as_positive("X", X))
    if len(logC) != len(logX) or len(logC) < 3:
        raise ValueError("power_law_interval needs C and X of the same length >= 3 (2 coefficients + a residual)")
    p, c = np.polyfit(logC, logX, 1)
    resid = logX - (p * logC + c)
    se = np.sqrt(resid @ resid / (len(logC) - 2) / np.sum((logC - logC.mean()) ** 2))
    half = student_t.ppf(0.5 + level / 2, len(logC) - 2) * se
    return float(p - half), float(p + half)


def bootstrap_isoflop_exponents(runs, n_boot=200, seed=0, level=0.9):
    """Percentile intervals of a and b (N* ∝ C^a, D* ∝ C^b) under each budget's own measurement noise.

    A residual bootstrap: every budget's parabola is refitted to its fitted values plus resampled residuals
    (inflated by sqrt(n / (n - 3)) for the 3 fitted coefficients), then the power laws through the new vertices.
    Resamples where some budget stops curving upwards are dropped; how many were kept is returned as "n".
    """
    by_budget = {}
    for r in runs:
        by_budget.setdefault(float(r["C"]), []).append(r)
    if len(by_budget) < 2 or any(len(g) < 4 for g in by_budget.values()):
        raise ValueError("bootstrap_isoflop_exponents needs >= 2 budgets with >= 4 runs each (3 coefficients + "
                         "at least one residual)")
    Cs = sorted(by_budget)
    rng = np.random.default_rng(seed)
    fits = {}
    for C in Cs:
        loss = np.array([r["loss"] for r in by_budget[C]])
        for key in ("N", "D"):
            x = np.log([r[key] for r in by_budget[C]])
            fitted = np.polyval(np.polyfit(x, loss, 2), x)
            fits[C, key] = (x, fitted, (loss - fitted) * np.sqrt(len(x) / (len(x) - 3)))
    draws = {"a": [], "b": []}
    for _ in range(n_boot):
        try:
            star = {(C, key): parabola_vertex(x, fitted + rng.choice(res, len(res)))[0]
                    for (C, key), (x, fitted, res) in fits.items()}
        except ValueError:
            continue
        for exponent, key in (("a", "N"), ("b", "D")):
            draws[exponent].append(np.polyfit(np.log(Cs), [star[C, key] for C in Cs], 1)[0])
    if not draws["a"]:
        raise ValueError("no bootstrap resample had a minimum at every budget: the parabolas are too flat")
    tail = 100 * (1 - level) / 2
    out = {k: (float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail))) for k, v in draws.items()}
    out["n"] = len(draws["a"])
    return out


# ------------------------------------------------------------------------------------ approach 3: L(N, D)

@dataclass
class LossFit:
    """L(N, D) = E + A/N^alpha + B/D^beta, and the Huber objective it reached."""
    E: float
    A: float
    B: float
    alpha: float
    beta: float
    objective: float

    def loss(self, N, D):
        return self.E + self.A / np.asarray(N, dtype=np.float64) ** self.alpha + \
            self.B / np.asarray(D, dtype=np.float64) ** self.beta

    @property
    def a(self):
        """Exponent of N_opt ∝ C^a under C = 6·N·D."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self):
        """Exponent of D_opt ∝ C^b (a + b = 1)."""
        return self.alpha / (self.alpha + self.beta)

    def optimal_N(self, C):
        """argmin_N L(N, C/(6N)): G·(C/6)^a with G = (αA/(βB))^(1/(α+β))."""
        G = (self.alpha * self.A / (self.beta * self.B)) ** (1.0 / (self.alpha + self.beta))
        return G * (np.asarray(C, dtype=np.float64) / 6.0) ** self.a


def _huber(r, delta):
    absr = np.abs(r)
    return np.where(absr <= delta, 0.5 * r * r, delta * (absr - 0.5 * delta))


def _residual_and_jacobian(theta, logN, logD, logL):
    """r = LSE(a - α logN, b - β logD, e) - log L and dr/dθ for θ = (a, b, e, α, β)."""
    a, b, e, alpha, beta = theta
    terms = np.stack([a - alpha * logN, b - beta * logD, np.full_like(logN, e)])   # (3, n)
    top = terms.max(axis=0)
    w = np.exp(terms - top)                                                        # softmax weights
    lse = top + np.log(w.sum(axis=0))
    w /= w.sum(axis=0)
    J = np.stack([w[0], w[1], w[2], -w[0] * logN, -w[1] * logD], axis=1)          # (n, 5)
    return lse - logL, J


def _lm(theta, logN, logD, logL, delta, iters=200):
    """Levenberg-Marquardt on the IRLS form of the Huber objective; returns (theta, objective)."""
    lam = 1e-3
    r, J = _residual_and_jacobian(theta, logN, logD, logL)
    obj = _huber(r, delta).sum()
    for _ in range(iters):
        w = np.where(np.abs(r) <= delta, 1.0, delta / np.maximum(np.abs(r), 1e-300))
        JtW = J.T * w
        H, g = JtW @ J, JtW @ r
        step = np.linalg.solve(H + lam * (np.diag(np.diag(H)) + 1e-12 * np.eye(5)), -g)
        trial = theta + step
        trial[3:] = np.clip(trial[3:], 0.0, 3.0)   # exponents stay in a physical range
        trial[2] = max(trial[2], -30.0)             # E = e^e >= 1e-13: "no irreducible loss" without e -> -inf
        r_t, J_t = _residual_and_jacobian(trial, logN, logD, logL)
        obj_t = _huber(r_t, delta).sum()
        if obj_t < obj:
            converged = obj - obj_t < 1e-14 * max(obj, 1e-300) or np.max(np.abs(trial - theta)) < 1e-10
            theta, r, J, obj, lam = trial, r_t, J_t, obj_t, max(lam / 3, 1e-12)
            if converged:
                break
        else:
            lam *= 4
            if lam > 1e12:
                break
    return theta, float(obj)


# 27 starts over the scales (a, b, e); LM moves the exponents freely from 0.3. In tests over random true parameters
# this found the global fit every time; a 4-start grid sometimes let E collapse to 0. Pass a wider grid if unsure.
DEFAULT_GRID = {"a": (0.0, 5.0, 10.0), "b": (0.0, 5.0, 10.0), "e": (-1.0, 0.0, 1.0), "alpha": (0.3,), "beta": (0.3,)}


def fit_loss_surface(N, D, loss, delta=1e-3, grid=None, init=None):
    """The LossFit minimising the Huber objective from every start in `grid` (or from `init`, a LossFit)."""
    N, D, loss = _as_positive("N", N), _as_positive("D", D), _as_positive("loss", loss)
    if not len(N) == len(D) == len(loss) or len(N) < 5:
        raise ValueError(f"N, D and loss need the same length >= 5 (5 parameters), got {len(N)}, {len(D)}, "
                         f"{len(loss)}")
    if not delta > 0:
        raise ValueError(f"delta must be > 0, got {delta!r}")
    logN, logD, logL = np.log(N), np.log(D), np.log(loss)
    if init is not None:
        starts = [np.log(np.maximum([init.A, init.B, init.E], 1e-13)).tolist() + [init.alpha, init.beta]]
        starts = [np.array(starts[0])]
    else:
        g = DEFAULT_GRID if grid is None else grid
        starts = [np.array(s, dtype=np.float64) for s in
                  itertools.product(g["a"], g["b"], g["e"], g["alpha"], g["beta"])]
    best = None
    for theta0 in starts:
        theta, obj = _lm(theta0, logN, logD, logL, delta)
        if best is None or obj < best[1]:
            best = (theta, obj)
    a, b, e, alpha, beta = best[0]
    return LossFit(E=float(np.exp(e)), A=float(np.exp(a)), B=float(np.exp(b)), alpha=float(alpha),
                   beta=float(beta), objective=best[1])


def bootstrap_loss_surface(N, D, loss, n_boot=100, seed=0, delta=1e-3, level=0.9, grid=None):
    """(fit, {name: (lo, hi)}) with percentile intervals over n_boot resamples of the runs (with replacement).

    Each resample starts from the full-data fit (the grid search is done once), which keeps this affordable.
    """
    N, D, loss = (np.asarray(v, dtype=np.float64) for v in (N, D, loss))
    fit = fit_loss_surface(N, D, loss, delta=delta, grid=grid)
    rng = np.random.default_rng(seed)
    draws = {k: [] for k in ("E", "A", "B", "alpha", "beta", "a", "b")}
    for _ in range(n_boot):
        idx = rng.integers(0, len(N), len(N))
        if len(np.unique(idx)) < 5:
            continue
        f = fit_loss_surface(N[idx], D[idx], loss[idx], delta=delta, init=fit)
        for k in draws:
            draws[k].append(getattr(f, k))
    tail = 100 * (1 - level) / 2
    intervals = {k: (float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail))) for k, v in draws.items()}
    return fit, intervals
