"""Two simple fixes for zero counts: add-k (Lidstone) smoothing and stupid backoff (Brants et al., 2007).

add-k, with c the raw counts and h the last n-1 tokens (fewer at the start of a text):

    p(w | h) = (c(h w) + k) / (c(h) + k V)          c(h) = sum_v c(h v); an unseen h gives the uniform 1/V

stupid backoff scores S and normalises them over the vocabulary (Brants et al. leave S unnormalised; a
cross-entropy needs a distribution), starting from the longest context h that was seen followed by a token:

    S(w | h) = c(h w) / c(h)            if c(h w) > 0
             = alpha * S(w | h')        otherwise (h' = h without its oldest token)
    S(w)     = (c(w) + 1) / (N + V)     add-one at the bottom, so every token keeps some mass
    p(w | h) = S(w | h) / Z(h),         Z(h) = sum_v S(v | h)
"""
import numpy as np

from tinyllm.ngram.base import NGramModel
from tinyllm.ngram.counts import children, lookup, shift, take


class AddK(NGramModel):
    """Add-k smoothing of the order-n maximum-likelihood estimate (no backoff: an unseen context is uniform)."""
    method = "addk"

    def _prepare(self):
        V = self.vocab.size
        self.total = [np.bincount(self.trie.level(k).keys // V, weights=self.trie.level(k).count,
                                  minlength=self.trie.n_nodes(k - 1)) for k in range(1, self.config.order + 1)]

    def _dist(self, ctx):
        k_, V, j = self.config.k, self.vocab.size, len(ctx)
        p = np.full(V, k_)
        h = 0 if j == 0 else int(lookup(self.trie, ctx)[j][-1])
        total = 0.0
        if h >= 0:
            sl = children(self.trie, j + 1, h)
            p[self.trie.level(j + 1).keys[sl] % V] += self.trie.level(j + 1).count[sl]
            total = self.total[j][h]
        return p / (total + k_ * V)

    def _score(self, ids):
        k_, V, n = self.config.k, self.vocab.size, self.context_length
        E = lookup(self.trie, ids)
        t = np.arange(len(ids))
        j_of_t = np.minimum(t, n)                      # context length used at each position
        p = np.empty(len(ids))
        for j in np.unique(j_of_t):
            idx = np.flatnonzero(j_of_t == j)
            h = shift(E[j])[idx] if j > 0 else np.zeros(len(idx), np.int64)
            g = E[j + 1][idx]
            c = take(self.trie.level(j + 1).count, g, 0)
            total = take(self.total[j], h, 0.0)
            p[idx] = (c + k_) / (total + k_ * V)
        return np.log(p)


class StupidBackoff(NGramModel):
    """Stupid backoff with weight alpha, normalised; Z(h) is precomputed per context from the suffix links."""
    method = "backoff"

    def _prepare(self):
        trie, K, V, a = self.trie, self.config.order, self.vocab.size, self.config.alpha
        self.total, self.S, self.Z = [], [], [np.ones(1)]   # Z[0]: the add-one unigram sums to 1
        for k in range(1, K + 1):
            lv = trie.level(k)
            parent = lv.keys // V
            total = np.bincount(parent, weights=lv.count, minlength=trie.n_nodes(k - 1))
            self.total.append(total)
            if k == 1:
                self.S.append((lv.count + 1.0) / (total[0] + V))                  # S_1(w) per seen token
            else:
                self.S.append(lv.count / np.maximum(total[parent], 1.0))            # c(h w) / c(h)
        for j in range(1, K):                   # Z for contexts of length j (level-j nodes)
            lv = trie.level(j + 1)
            parent = lv.keys // V
            n_j = trie.n_nodes(j)
            # sum over w following h of S(w | h'): h'w is the suffix link of the child h w
            covered = np.bincount(parent, weights=self.S[j - 1][lv.suffix], minlength=n_j)
            Z_short = self.Z[j - 1][trie.level(j).suffix]                         # Z(h')
            has = self.total[j][:n_j] > 0
            self.Z.append(np.where(has, 1.0 + a * (Z_short - covered), a * Z_short))

    def _dist(self, ctx):
        V, a, trie = self.vocab.size, self.config.alpha, self.trie
        E = lookup(trie, ctx) if len(ctx) else None
        S = np.full(V, 1.0 / (self.total[0][0] + V))
        sl = children(trie, 1, 0)
        S[trie.level(1).keys[sl]] = self.S[0][sl]
        for j in range(1, len(ctx) + 1):
            h = int(E[j][-1])
            if h < 0 or self.total[j][h] == 0:
                break                                   # longest seen context reached
            sl = children(trie, j + 1, h)
            S = a * S
            S[trie.level(j + 1).keys[sl] % V] = self.S[j][sl]
        return S / S.sum()

    def _score(self, ids):
        V, a, K, T = self.vocab.size, self.config.alpha, self.config.order, len(ids)
        E = lookup(self.trie, ids)
        m = np.zeros(T, np.int64)                       # length of the longest context seen with a follower
        h_m = np.zeros(T, np.int64)
        for j in range(1, K):
            h = shift(E[j])
            ok = h >= 0
            ok[ok] = self.total[j][h[ok]] > 0
            m[ok], h_m[ok] = j, h[ok]
        S = np.full(T, 1.0 / (self.total[0][0] + V))    # token never seen at all: the add-one floor
        k_found = np.zeros(T, np.int64)
        for k in range(1, K + 1):
            g = E[k]
            ok = (g >= 0) & (k <= m + 1)
            S[ok], k_found[ok] = self.S[k - 1][g[ok]], k
        S = S * a ** (m + 1 - np.maximum(k_found, 1))   # one alpha per step backed off
        return np.log(S / self._gather_Z(m, h_m))

    def _gather_Z(self, m, h_m):
        """Z(h) of each position's longest seen context (level m, id h_m)."""
        Z = np.empty(len(m))
        for j in range(len(self.Z)):
            sel = m == j
            Z[sel] = self.Z[j][h_m[sel]]
        return Z
