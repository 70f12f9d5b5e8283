"""2-D toy distributions for diffusion experiments, and a distance to tell whether samples match them.

    two_moons        two interleaved half circles (as in scikit-learn's make_moons), with Gaussian jitter
    swiss_roll       a 2-D spiral r = theta, theta in [1.5 pi, 4.5 pi]
    gaussian_mixture 8 Gaussians evenly spaced on a circle

Every sampler returns (n, 2) float64 points standardised to roughly zero mean and unit spread, so one noise
schedule fits all three. energy_distance(a, b) = 2 E|X - Y| - E|X - X'| - E|Y - Y'| (Szekely & Rizzo) is zero
exactly when the two distributions are equal; its sample version is biased upward by a term that shrinks as 1/n,
so compare it with the real-vs-real value at the same n.
"""
import numpy as np


def _check_n(n):
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    return int(n)


def two_moons(n, rng, noise=0.05):
    """n points on two interleaved half circles (radius 1, the second shifted by (1, -0.5)), standardised."""
    n = _check_n(n)
    upper = rng.random(n) < 0.5
    theta = rng.random(n) * np.pi                                             # (n,)
    x = np.where(upper, np.cos(theta), 1.0 - np.cos(theta))
    y = np.where(upper, np.sin(theta), 0.5 - np.sin(theta))
    pts = np.stack([x, y], axis=1) + noise * rng.normal(size=(n, 2))          # (n, 2)
    return (pts - np.array([0.5, 0.25])) / np.array([0.85, 0.5])


def swiss_roll(n, rng, noise=0.1):
    """n points on the spiral (theta cos theta, theta sin theta), theta in [1.5 pi, 4.5 pi], standardised."""
    n = _check_n(n)
    theta = 1.5 * np.pi * (1.0 + 2.0 * rng.random(n))                        # (n,)
    pts = np.stack([theta * np.cos(theta), theta * np.sin(theta)], axis=1)
    pts = pts + noise * rng.normal(size=(n, 2))
    return pts / 8.0


def gaussian_mixture(n, rng, k=8, radius=1.5, std=0.1):
    """n points from k equally weighted Gaussians (std `std`) centred on a circle of the given radius."""
    n = _check_n(n)
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    angle = 2.0 * np.pi * rng.integers(0, k, size=n) / k                     # (n,) a centre per point
    centres = radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return centres + std * rng.normal(size=(n, 2))


TOY2D = {"moons": two_moons, "swiss_roll": swiss_roll, "mixture": gaussian_mixture}


def sample_toy(name, n, rng):
    """n points of the toy distribution `name` (one of TOY2D)."""
    if name not in TOY2D:
        raise ValueError(f"unknown toy distribution {name!r}; choose one of {sorted(TOY2D)}")
    return TOY2D[name](n, rng)


def energy_distance(a, b):
    """Sample energy distance between point sets a (n, d) and b (m, d): >= 0, 0 iff the samples coincide."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or not len(a) or not len(b):
        raise ValueError(f"a and b must be non-empty (n, d) arrays with the same d, got {a.shape} and {b.shape}")

    def mean_dist(p, q):                                                      # E|P - Q| over all pairs
        return np.sqrt(((p[:, None, :] - q[None, :, :]) ** 2).sum(-1)).mean()

    return float(2.0 * mean_dist(a, b) - mean_dist(a, a) - mean_dist(b, b))
