"""Interpolated Kneser-Ney: one discount (kn) and modified, three discounts from count-of-counts (mkn).

Chen & Goodman (1998), "An empirical study of smoothing techniques", eq. (17) with the modified discounts of
section 3. For a context h = w_1..w_{k-1} and its shortened context h' = w_2..w_{k-1}:

    p_k(w | h) = ( max(a(h w) - D(a(h w)), 0) + gamma(h) * p_{k-1}(w | h') ) / sum_v a(h v)
    gamma(h)   = D1 * N1(h .) + D2 * N2(h .) + D3+ * N3+(h .)         (the mass taken by discounting)

where a = the raw count c at the highest order and the continuation count N1+(. h w) = "how many distinct tokens
precede h w" at every lower order (a token that follows many contexts is a good guess for a new one), N_r(h .) is
how many tokens follow h exactly r times (r >= 3 for N3+), and the recursion ends in the uniform 1/V. If h never
occurred, p_k(w | h) = p_{k-1}(w | h'). Discounts come from the count-of-counts n_r of each level:

    Y = n1 / (n1 + 2 n2),   D_r = r - (r + 1) * Y * n_{r+1} / n_r     (kn uses D = Y for every r)

On tiny corpora those formulas can be undefined (n_r = 0: then D_r = r * Y, and Y = 0.5 if n1 = n2 = 0) or
<= 0, so each D_r is clipped to [0.05, r]: every distribution then stays strictly positive and sums to 1 (the
numerator terms add up to the denominator).
"""
import numpy as np

from tinyllm.ngram.base import NGramModel
from tinyllm.ngram.counts import children, continuation_counts, lookup, shift, take

D_MIN = 0.05


def estimate_discounts(a, modified):
    """(D1, D2, D3+) for one level from its counts a (> 0 entries), per the formulas in the module docstring."""
    n = [int(np.count_nonzero(a == r)) for r in range(1, 5)]
    Y = n[0] / (n[0] + 2 * n[1]) if n[0] + 2 * n[1] > 0 else 0.5
    if not modified:
        return (float(np.clip(Y, D_MIN, 1.0)),) * 3
    D = []
    for r in (1, 2, 3):
        d = r - (r + 1) * Y * n[r] / n[r - 1] if n[r - 1] > 0 else r * Y
        D.append(float(np.clip(d, D_MIN, r)))
    return tuple(D)


class KneserNey(NGramModel):
    """Interpolated Kneser-Ney with a single discount per order."""
    method = "kn"
    modified = False

    def _prepare(self):
        """Per level k: discounted numerators per k-gram, and total + gamma per context (level k-1)."""
        trie, K, V = self.trie, self.config.order, self.vocab.size
        self.discounts, self.disc, self.total, self.gamma = [], [], [], []
        for k in range(1, K + 1):
            a = trie.level(k).count if k == K else continuation_counts(trie, k)
            if self.config.discounts is not None:
                D = self.config.discounts * 3 if len(self.config.discounts) == 1 else self.config.discounts
            else:
                D = estimate_discounts(a, self.modified)
            d_of_a = np.where(a == 0, 0.0, np.asarray(D)[np.clip(a, 1, 3) - 1])   # D(a) per k-gram
            parent = trie.level(k).keys // V
            n_ctx = trie.n_nodes(k - 1)
            self.discounts.append(tuple(D))
            self.disc.append(a - d_of_a)                                          # max(a - D(a), 0): D_r <= r
            self.total.append(np.bincount(parent, weights=a, minlength=n_ctx))
            self.gamma.append(np.bincount(parent, weights=d_of_a, minlength=n_ctx))

    def _dist(self, ctx):
        """Readable path: build p_1, p_2, ... p_K for one context, each a full (V,) vector."""
        V = self.vocab.size
        E = lookup(self.trie, ctx) if len(ctx) else None
        p = np.full(V, 1.0 / V)
        for k in range(1, self.config.order + 1):
            j = k - 1                                   # context length at this order
            if j > len(ctx):
                break
            h = 0 if j == 0 else int(E[j][-1])
            if h < 0:
                break                                   # unseen context: longer ones are unseen too
            total = self.total[k - 1][h]
            if total == 0:
                continue                                # seen, but never followed by a token at this order
            sl = children(self.trie, k, h)
            tokens = self.trie.level(k).keys[sl] % V
            p = self.gamma[k - 1][h] * p
            p[tokens] += self.disc[k - 1][sl]
            p /= total
        return p

    def _score(self, ids):
        """Fast path: the same recursion for every position at once, tracking only p(actual next token)."""
        E = lookup(self.trie, ids)
        T = len(ids)
        p = np.full(T, 1.0 / self.vocab.size)
        for k in range(1, self.config.order + 1):
            h = shift(E[k - 1]) if k > 1 else E[0]      # context id of each position at level k-1, or -1
            g = E[k]                                     # the k-gram ending at t (context + actual token)
            idx = np.flatnonzero(h >= 0)
            idx = idx[self.total[k - 1][h[idx]] > 0]
            hk, gk = h[idx], g[idx]
            num = self.gamma[k - 1][hk] * p[idx] + take(self.disc[k - 1], gk, 0.0)
            p[idx] = num / self.total[k - 1][hk]
        return np.log(p)


class ModifiedKneserNey(KneserNey):
    """Interpolated modified Kneser-Ney: three discounts D1, D2, D3+ per order (the strongest count model here)."""
    method = "mkn"
    modified = True
