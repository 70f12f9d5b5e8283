"""Scaling-law fits recover known parameters from noisy synthetic data; bad input is refused clearly."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyllm.scaling.fit import (bootstrap_loss_surface, fit_loss_surface, isoflop_optima, parabola_vertex,
                                 power_law)

# 27 starts instead of the default 243 (fast enough for a test; a 4-start grid let E collapse to 0 sometimes)
SMALL_GRID = {"a": (0.0, 5.0, 10.0), "b": (0.0, 5.0, 10.0), "e": (-1.0, 0.0, 1.0), "alpha": (0.3,), "beta": (0.3,)}


def synthetic(E, alpha, beta, share_A, share_B, n=40, noise=1e-3, seed=0):
    """Runs scattered over N in [1e4, 1e7], D in [1e5, 1e8]; A, B set so each term is share·E at mid-range."""
    rng = np.random.default_rng(seed)
    A, B = share_A * E * np.sqrt(1e4 * 1e7) ** alpha, share_B * E * np.sqrt(1e5 * 1e8) ** beta
    N = np.exp(rng.uniform(np.log(1e4), np.log(1e7), n))
    D = np.exp(rng.uniform(np.log(1e5), np.log(1e8), n))
    L = (E + A / N ** alpha + B / D ** beta) * np.exp(rng.normal(0, noise, n))
    return N, D, L, A, B


@settings(max_examples=4)
@given(E=st.floats(0.5, 2.0), alpha=st.floats(0.25, 0.6), beta=st.floats(0.25, 0.6),
       share_A=st.floats(0.3, 2.0), share_B=st.floats(0.3, 2.0), seed=st.integers(0, 1000))
def test_huber_fit_recovers_known_parameters(E, alpha, beta, share_A, share_B, seed):
    N, D, L, A, B = synthetic(E, alpha, beta, share_A, share_B, seed=seed)
    fit = fit_loss_surface(N, D, L, grid=SMALL_GRID)
    assert fit.alpha == pytest.approx(alpha, abs=0.05)
    assert fit.beta == pytest.approx(beta, abs=0.05)
    assert fit.E == pytest.approx(E, rel=0.15)
    grid_N, grid_D = np.geomspace(1e4, 1e7, 7), np.geomspace(1e5, 1e8, 7)
    truth = E + A / grid_N ** alpha + B / grid_D ** beta
    np.testing.assert_allclose(fit.loss(grid_N, grid_D), truth, rtol=0.01)


def test_huber_ignores_an_outlier_least_squares_would_follow():
    N, D, L, _, _ = synthetic(1.0, 0.35, 0.3, 1.0, 1.0, n=30, seed=3)
    L[0] *= 1.5   # one diverged run
    fit = fit_loss_surface(N, D, L, grid=SMALL_GRID)
    assert fit.alpha == pytest.approx(0.35, abs=0.03) and fit.beta == pytest.approx(0.3, abs=0.03)


def test_bootstrap_interval_covers_truth_and_a_plus_b_is_one():
    N, D, L, _, _ = synthetic(1.2, 0.4, 0.3, 1.0, 1.0, n=30, noise=3e-3, seed=5)
    fit, iv = bootstrap_loss_surface(N, D, L, n_boot=20, seed=1, grid=SMALL_GRID)
    assert iv["alpha"][0] <= 0.4 + 0.02 and iv["alpha"][1] >= 0.4 - 0.02
    assert iv["alpha"][0] <= fit.alpha <= iv["alpha"][1]
    assert fit.a + fit.b == pytest.approx(1.0)
    # the closed-form optimum minimises L along C = 6ND
    C = 1e15
    Ns = np.geomspace(fit.optimal_N(C) / 3, fit.optimal_N(C) * 3, 401)
    assert Ns[np.argmin(fit.loss(Ns, C / (6 * Ns)))] == pytest.approx(fit.optimal_N(C), rel=0.02)


@settings(max_examples=10)
@given(a=st.floats(0.3, 0.7), k=st.floats(1e-2, 10.0), curv=st.floats(0.02, 0.3))
def test_isoflop_parabolas_recover_the_optimum_exponent(a, k, curv):
    """Loss is an exact parabola in log N around N* = k·C^a, so vertices and exponent come back exactly."""
    runs = []
    for C in (1e12, 1e13, 1e14, 1e15):
        N_star = k * C ** a
        for f in (0.25, 0.5, 1.0, 2.0, 4.0):
            N = N_star * f
            runs.append({"C": C, "N": N, "D": C / (6 * N), "loss": 2.0 + curv * np.log(f) ** 2})
    optima = isoflop_optima(runs)
    assert [o.C for o in optima] == [1e12, 1e13, 1e14, 1e15]
    p, kk = power_law([o.C for o in optima], [o.N_opt for o in optima])
    assert p == pytest.approx(a, abs=1e-6) and kk == pytest.approx(k, rel=1e-4)
    p_D, _ = power_law([o.C for o in optima], [o.D_opt for o in optima])
    assert p_D == pytest.approx(1 - a, abs=1e-6)   # D* = C / (6 N*)
    assert all(o.L_opt == pytest.approx(2.0) and o.inside for o in optima)
    beyond = [dict(r, loss=2.0 + curv * (np.log(r["N"] / (k * r["C"] ** a)) - np.log(8)) ** 2) for r in runs]
    assert not any(o.inside for o in isoflop_optima(beyond))   # optimum at 8 N*, past the largest size tried


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="curve upwards"):
        parabola_vertex([1, 2, 3], [1, 3, 1])
    with pytest.raises(ValueError, match="at least 3 sizes"):
        isoflop_optima([{"C": 1.0, "N": 1.0, "D": 1.0, "loss": 1.0}])
    with pytest.raises(ValueError, match="N must be"):
        fit_loss_surface([1, -2, 3, 4, 5], [1] * 5, [1] * 5)
    with pytest.raises(ValueError, match="length >= 5"):
        fit_loss_surface([1, 2], [1, 2], [1, 2])
    with pytest.raises(ValueError, match="X must be"):
        power_law([1, 2], [0, 1])


def isoflop_runs(a, noise, seed, budgets=(1e10, 3e10, 1e11, 3e11), k=5):
    """Exact IsoFLOP parabolas L = L*(C) + 0.1·(log N - log N*)² with N* = 0.1·C^a and D = C / (6N), plus noise."""
    rng = np.random.default_rng(seed)
    runs = []
    for C in budgets:
        N_star = 0.1 * C ** a
        for N in N_star * np.geomspace(0.2, 5.0, k):
            L = 3.0 * C ** -0.05 + 0.1 * np.log(N / N_star) ** 2 + rng.normal(0, noise)
            runs.append({"C": C, "N": N, "D": C / (6 * N), "loss": L})
    return runs


@settings(max_examples=5)
@given(a=st.floats(0.3, 0.7), seed=st.integers(0, 1000))
def test_parabola_bootstrap_interval_covers_the_true_exponents(a, seed):
    from tinyllm.scaling.fit import bootstrap_isoflop_exponents
    exact = bootstrap_isoflop_exponents(isoflop_runs(a, 0.0, seed), n_boot=20)
    assert exact["a"][0] == pytest.approx(a, abs=1e-6) and exact["a"][1] == pytest.approx(a, abs=1e-6)
    assert exact["b"][0] == pytest.approx(1 - a, abs=1e-6)
    iv = bootstrap_isoflop_exponents(isoflop_runs(a, 2e-3, seed), n_boot=100, seed=seed)
    assert iv["a"][0] - 0.02 <= a <= iv["a"][1] + 0.02 and iv["n"] > 50
    assert iv["a"][1] - iv["a"][0] < 0.2    # a little noise, a narrow interval
    with pytest.raises(ValueError, match="budgets"):
        bootstrap_isoflop_exponents(isoflop_runs(a, 0.0, seed, budgets=(1e10,)))


@settings(max_examples=10)
@given(p=st.floats(-1.0, 1.0), noise=st.floats(0.0, 0.05), seed=st.integers(0, 1000))
def test_power_law_interval_contains_the_fitted_slope_and_shrinks_to_it_without_noise(p, noise, seed):
    from tinyllm.scaling.fit import power_law_interval
    C = np.geomspace(1e9, 1e12, 6)
    X = 3.0 * C ** p * np.exp(np.random.default_rng(seed).normal(0, noise, 6))
    lo, hi = power_law_interval(C, X)
    assert lo <= power_law(C, X)[0] <= hi and hi - lo <= 40 * noise + 1e-9
    with pytest.raises(ValueError, match=">= 3"):
        power_law_interval(C[:2], X[:2])
