"""Vectorised n-gram counting: every k-gram of the text gets a dense integer id, levels k = 1..K form a trie.

Why not a dict per context? A Python loop over a 1 MB text costs seconds per order; sorting integer arrays costs
milliseconds. The trick is to name each k-gram by an integer built from the id of its (k-1)-gram prefix:

    key(w_1..w_k) = id(w_1..w_{k-1}) * V + w_k,    id(w_1..w_k) = rank of key among the distinct keys of level k

The ids are a perfect hash (no collisions, unlike a rolling hash), and because keys are sorted, the children of a
context h (all k-grams h w) sit in one contiguous block of level k: the trie is stored in CSR form. Per level we
keep `keys` (sorted, int64), `count` (occurrences) and `suffix` (id of w_2..w_k at level k-1, the "suffix link"
that Kneser-Ney's continuation counts and stupid backoff need). Level 0 is the empty context, id 0.
"""
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Level:
    """The distinct k-grams of one order k: sorted keys, counts and suffix links, all indexed by k-gram id."""
    keys: np.ndarray      # (n_k,) int64, prefix_id * V + last token, sorted ascending
    count: np.ndarray     # (n_k,) int64, occurrences in the text
    suffix: np.ndarray    # (n_k,) int64, id at level k-1 of the k-gram without its first token

    def __len__(self):
        return len(self.keys)


@dataclass
class NGramTrie:
    """All k-grams for k = 1..order of a token sequence, plus its last order-1 tokens (so `update` can continue)."""
    order: int
    vocab_size: int
    levels: list = field(default_factory=list)   # levels[k-1] is order k
    tail: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # last (order - 1) tokens seen
    n_tokens: int = 0

    def level(self, k):
        """Level of order k (k >= 1)."""
        return self.levels[k - 1]

    def n_nodes(self, k):
        """Number of distinct k-grams (1 for k = 0, the empty context)."""
        return 1 if k == 0 else len(self.levels[k - 1])

    def parent(self, k):
        """(n_k,) id at level k-1 of each k-gram's context (its first k-1 tokens)."""
        return self.level(k).keys // self.vocab_size

    def token(self, k):
        """(n_k,) last token of each k-gram."""
        return self.level(k).keys % self.vocab_size

    def nbytes(self):
        return sum(a.nbytes for lv in self.levels for a in (lv.keys, lv.count, lv.suffix))


def _empty_level():
    z = np.zeros(0, np.int64)
    return Level(z, z.copy(), z.copy())


def count_ngrams(ids, order, vocab_size, skip=0):
    """Build the trie of all k-grams (k <= order) of `ids`; only occurrences ending at index >= skip are counted.

    `skip` lets `update` re-read the previous text's last tokens (so n-grams crossing the boundary are found)
    without counting them twice; such k-grams still get nodes (with count 0), which keeps the trie prefix-closed.
    """
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    N = len(ids)
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    if N and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"ids must lie in [0, {vocab_size}), got range [{ids.min()}, {ids.max()}]")
    trie = NGramTrie(order, vocab_size)
    prev = np.zeros(N + 1, np.int64)          # id of the (k-1)-gram starting at each position; level 0 = root
    for k in range(1, order + 1):
        m = N - k + 1                          # number of k-gram start positions
        if m <= 0:
            trie.levels.append(_empty_level())
            continue
        key = prev[:m] * vocab_size + ids[k - 1:]                       # (m,)
        keys, first, node = np.unique(key, return_index=True, return_inverse=True)
        counted = np.arange(k - 1, N) >= skip                            # the k-gram ends at i + k - 1
        count = np.bincount(node[counted], minlength=len(keys)).astype(np.int64)
        # suffix link: w_2..w_k of the k-gram starting at i is the (k-1)-gram starting at i + 1
        suffix = np.zeros(len(keys), np.int64) if k == 1 else prev[first + 1]
        trie.levels.append(Level(keys, count, suffix))
        prev = node
    trie.tail = ids[max(0, N - (order - 1)):].copy() if order > 1 else np.zeros(0, np.int64)
    trie.n_tokens = N - min(skip, N)
    return trie


def merge(a, b):
    """The trie of the union of two tries' k-grams, counts added: what counting both texts together gives.

    `b` is taken to continue `a`: it was counted on a.tail + more with skip=len(a.tail), so its tail is the tail.
    """
    if (a.order, a.vocab_size) != (b.order, b.vocab_size):
        raise ValueError(f"cannot merge tries of (order, V) = {(a.order, a.vocab_size)} and {(b.order, b.vocab_size)}")
    V = a.vocab_size
    out = NGramTrie(a.order, V)
    map_a, map_b = np.zeros(1, np.int64), np.zeros(1, np.int64)         # old id -> merged id, level k-1
    for la, lb in zip(a.levels, b.levels):
        key_a = map_a[la.keys // V] * V + la.keys % V                     # keys re-expressed in merged ids
        key_b = map_b[lb.keys // V] * V + lb.keys % V
        keys, node = np.unique(np.concatenate([key_a, key_b]), return_inverse=True)
        count = np.bincount(node, weights=np.concatenate([la.count, lb.count]).astype(np.float64),
                            minlength=len(keys)).astype(np.int64)
        new_a, new_b = node[:len(key_a)], node[len(key_a):]
        suffix = np.zeros(len(keys), np.int64)
        suffix[new_a] = map_a[la.suffix]
        suffix[new_b] = map_b[lb.suffix]
        out.levels.append(Level(keys, count, suffix))
        map_a, map_b = new_a, new_b
    out.tail = b.tail.copy()
    out.n_tokens = a.n_tokens + b.n_tokens
    return out


def find(level, key):
    """Ids of `key` (array) in a level, -1 where absent: one binary search per key."""
    key = np.asarray(key, np.int64)
    if len(level) == 0:
        return np.full(key.shape, -1, np.int64)
    pos = np.searchsorted(level.keys, key)
    pos_c = np.minimum(pos, len(level) - 1)
    return np.where(level.keys[pos_c] == key, pos_c, -1)


def lookup(trie, ids):
    """Node ids of the k-grams ending at every position: E[k][t] = id of ids[t-k+1..t] at level k, or -1.

    E[0] is all zeros (the empty context). A k-gram can only exist if its prefix does (the trie is prefix-closed),
    so each level needs one vectorised binary search.
    """
    ids = np.asarray(ids, np.int64)
    T = len(ids)
    E = [np.zeros(T, np.int64)]
    for k in range(1, trie.order + 1):
        parent = shift(E[k - 1]) if k > 1 else E[0]     # the (k-1)-gram ending at t-1
        ok = parent >= 0
        node = np.full(T, -1, np.int64)
        node[ok] = find(trie.level(k), parent[ok] * trie.vocab_size + ids[ok])
        E.append(node)
    return E


def take(values, idx, fill=0.0):
    """values[idx] where idx >= 0, `fill` where idx == -1 (safe even when `values` is empty)."""
    out = np.full(idx.shape, fill, dtype=np.result_type(values.dtype, np.asarray(fill).dtype))
    ok = idx >= 0
    out[ok] = values[idx[ok]]
    return out


def shift(e):
    """e[t-1] at position t, -1 at t = 0: turns "k-gram ending at t" into "context of the token at t"."""
    out = np.empty_like(e)
    out[0:1] = -1
    out[1:] = e[:-1]
    return out


def children(trie, k, h):
    """Slice of level k holding the k-grams whose context is the (k-1)-gram h (contiguous because keys are sorted)."""
    keys = trie.level(k).keys
    V = trie.vocab_size
    return slice(int(np.searchsorted(keys, h * V)), int(np.searchsorted(keys, (h + 1) * V)))


def continuation_counts(trie, k):
    """N1+(. w_1..w_k): how many distinct tokens precede each k-gram (k < order), from the suffix links of k+1."""
    return np.bincount(trie.level(k + 1).suffix, minlength=trie.n_nodes(k)).astype(np.int64)
