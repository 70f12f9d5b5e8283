"""Suffix array of a token sequence, and the binary searches the infini-gram needs.

The suffix array SA lists the start positions of all suffixes data[i:] in lexicographic order, so every
occurrence of a pattern is one contiguous block SA[lo:hi] found by two binary searches (Manber & Myers, 1993).

Construction is prefix doubling: after round r every suffix has a rank by its first 2^r tokens; sorting the pairs
(rank[i], rank[i + 2^r]) gives the ranks by the first 2^(r+1) tokens. Each round is one NumPy argsort of int64
keys, O(N log N); the number of rounds is about log2 of the longest repeated substring. `suffix_array_naive`
(Python's sort of the suffixes themselves, O(N^2 log N)) is the readable reference it is tested against.

The searches are compiled with Numba; `longest_matches_reference` (brute-force scans of the text) is the readable
twin the tests compare them with.
"""
import numpy as np

try:
    from numba import njit
except ImportError:                     # Numba is optional: fall back to the (slow) Python functions
    def njit(*args, **kwargs):
        return (lambda f: f) if not args or not callable(args[0]) else args[0]


def suffix_array_naive(data):
    """Reference: sort the start positions by the suffixes they begin (only for small texts in tests)."""
    data = [int(x) for x in data]
    return np.array(sorted(range(len(data)), key=lambda i: data[i:]), dtype=np.int64)


def build_suffix_array(data):
    """(N,) int64 suffix array of `data` (ints) by prefix doubling with NumPy sorts."""
    data = np.asarray(data)
    N = len(data)
    if N == 0:
        return np.zeros(0, np.int64)
    rank = np.unique(data, return_inverse=True)[1].astype(np.int64)   # rank by the first token
    k = 1
    while True:
        second = np.zeros(N, np.int64)                  # rank of the next block; 0 = "suffix ended" sorts first
        second[:N - k] = rank[k:] + 1
        key = rank * (N + 1) + second                   # < (N + 1)^2: fits int64 for any realistic N
        sa = np.argsort(key, kind="stable")
        sorted_key = key[sa]
        new = np.concatenate([[0], np.cumsum(sorted_key[1:] != sorted_key[:-1])])
        rank = np.empty(N, np.int64)
        rank[sa] = new
        if new[-1] == N - 1 or k >= N:                  # all ranks distinct: fully sorted
            return sa.astype(np.int64)
        k *= 2


@njit(cache=True)
def compare(data, start, pattern, m):
    """Sign of data[start:start+m] vs pattern[:m] (a suffix shorter than the pattern compares as smaller)."""
    N = len(data)
    for i in range(m):
        if start + i >= N:
            return -1
        a, b = data[start + i], pattern[i]
        if a != b:
            return -1 if a < b else 1
    return 0


@njit(cache=True)
def sa_range(data, sa, pattern, m, lo, hi):
    """[lo', hi') of the suffixes inside sa[lo:hi] that begin with pattern[:m] (two binary searches)."""
    a, b = lo, hi
    while a < b:                                        # first suffix >= pattern
        mid = (a + b) // 2
        if compare(data, sa[mid], pattern, m) < 0:
            a = mid + 1
        else:
            b = mid
    start = a
    b = hi
    while a < b:                                        # first suffix > pattern (on its first m tokens)
        mid = (a + b) // 2
        if compare(data, sa[mid], pattern, m) <= 0:
            a = mid + 1
        else:
            b = mid
    return start, a


@njit(cache=True)
def sa_narrow(data, sa, lo, hi, n, w):
    """Inside sa[lo:hi], where all suffixes share their first n tokens, the block whose token n is w.

    Only one token per step is compared (a suffix that ends after n tokens counts as smaller than any token).
    """
    N = len(data)
    a, b = lo, hi
    while a < b:                                        # first suffix whose token n is >= w
        mid = (a + b) // 2
        p = sa[mid] + n
        if p >= N or data[p] < w:
            a = mid + 1
        else:
            b = mid
    start = a
    b = hi
    while a < b:                                        # first suffix whose token n is > w
        mid = (a + b) // 2
        if data[sa[mid] + n] <= w:
            a = mid + 1
        else:
            b = mid
    return start, a


def count_occurrences(data, sa, pattern):
    """How many times `pattern` occurs in data (overlaps included)."""
    data = np.ascontiguousarray(data, np.int64)
    pattern = np.ascontiguousarray(pattern, np.int64)
    lo, hi = sa_range(data, np.ascontiguousarray(sa, np.int64), pattern, len(pattern), 0, len(sa))
    return hi - lo


@njit(cache=True)
def _longest_matches(data, sa, query, max_len):
    N, T = len(data), len(query)
    n_out = np.zeros(T, np.int64)
    c_h = np.zeros(T, np.int64)
    c_hw = np.zeros(T, np.int64)
    n, lo2, hi2 = 0, 0, 0
    for t in range(T):
        known = t > 0 and hi2 > lo2 and n + 1 <= max_len    # last step's h w occurs: it is this step's h
        if known:
            n, lo, hi = n + 1, lo2, hi2
        else:
            n = min(n, max_len)
        while True:
            if not known:
                lo, hi = sa_range(data, sa, query[t - n:t], n, 0, N)
            known = False
            cnt = hi - lo
            if cnt > 0 and sa[lo] + n == N:             # the occurrence at the very end has no follower
                cnt -= 1
                lo += 1
            if cnt > 0 or n == 0:
                break
            n -= 1
        lo2, hi2 = sa_narrow(data, sa, lo, hi, n, query[t])  # the block of h w inside the block of h
        n_out[t], c_h[t], c_hw[t] = n, cnt, hi2 - lo2
    return n_out, c_h, c_hw


def longest_matches(data, sa, query, max_len):
    """For every t: the longest suffix h of query[:t] (at most max_len) that occurs in data followed by a token,
    its count c(h) with a follower, and c(h w) for the actual next token w = query[t].

    A match can grow by at most one token per step, and when last step's h w occurred its block of the suffix
    array is this step's h: so most steps need one binary search (for h w) and a miss only shrinks n.
    """
    data, query = compact(data, query)
    return _longest_matches(data, np.ascontiguousarray(sa, np.int64), query, int(max_len))


def compact(data, query):
    """Both as uint8 when every id fits: the text then stays in cache, which makes the searches ~2x faster."""
    small = max(int(np.max(data, initial=0)), int(np.max(query, initial=0))) < 256
    dtype = np.uint8 if small else np.int64
    return np.ascontiguousarray(data, dtype), np.ascontiguousarray(query, dtype)


def longest_matches_reference(data, query, max_len):
    """The same three arrays by brute force (scan the whole text for every candidate suffix): tests only."""
    data, query = [int(x) for x in data], [int(x) for x in query]
    N = len(data)
    out = np.zeros((3, len(query)), np.int64)
    for t in range(len(query)):
        for n in range(min(t, max_len), -1, -1):
            h = query[t - n:t]
            follow = [data[i + n] for i in range(N - n) if data[i:i + n] == h]
            if follow or n == 0:
                out[:, t] = n, len(follow), follow.count(query[t])
                break
    return out[0], out[1], out[2]


def next_token_counts(data, sa, context, vocab_size, max_len):
    """(n, counts (V,)): the longest suffix of `context` seen with a follower, and the counts of its followers.

    "Occurs with a follower" is monotone in the suffix length, so n is found by bisection.
    """
    data, context = compact(data, context)
    sa = np.ascontiguousarray(sa, np.int64)
    N = len(data)

    def followers(n):
        lo, hi = sa_range(data, sa, context[len(context) - n:], n, 0, N)
        starts = sa[lo:hi] + n
        return starts[starts < N]

    lo_n, hi_n = 0, min(len(context), max_len)          # invariant: lo_n works; search the largest that does
    while lo_n < hi_n:
        mid = (lo_n + hi_n + 1) // 2
        if len(followers(mid)):
            lo_n = mid
        else:
            hi_n = mid - 1
    return lo_n, np.bincount(data[followers(lo_n)], minlength=vocab_size)
