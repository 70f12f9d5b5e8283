"""Learning byte-level BPE merges: pre-split the text into chunks, then repeatedly merge the most frequent pair.

Byte-pair encoding (Sennrich et al. 2016, "Neural Machine Translation of Rare Words with Subword Units"; byte-level
as in GPT-2) starts from the 256 byte values and learns an ordered list of merges: merge k replaces every adjacent
pair (a, b) by the new id 256 + k. Two trainers live here and are tested to produce identical merges:

- `learn_merges_reference`: the textbook loop. Recount every pair in every chunk, merge the best, repeat.
  Obviously correct, but O(merges * total chunk length): minutes for thousands of merges on 1 MB of text.
- `learn_merges`: the same algorithm with incremental bookkeeping. Each pair remembers which chunks contain it,
  so a merge revisits only those chunks and changes only the counts of pairs next to a merge site; a heap finds
  the most frequent pair. About a second for thousands of merges on 1 MB.
Both count identical chunks once: a word that occurs 500 times is one entry with weight 500.

Tie-break (both trainers): the highest count wins, and among equal counts the smallest pair (a, b). Pairs are
counted at every position, so "aaa" holds (a, a) twice although only one merge fits; merges apply left to right.
"""
import heapq
import re
from collections import Counter, defaultdict

# The pre-split. Merges never cross chunk boundaries, so tokens stay within words, numbers or punctuation runs and
# a space can only start a token (" the"), never end one. A chunk is one of, tried in this order:
#   an optional space + a run of letters    " hello"   ([^\W\d_] is "word characters minus digits and _")
#   an optional space + a run of digits     " 2024"
#   an optional space + a run of other symbols (punctuation, emoji, underscores)   " ..."
#   a run of whitespace                     "\n\n", "   "
# Runs are cut every MAX_RUN characters: merging costs O(chunk length) per merge, so one huge chunk (a minified
# file, a long line of text with no spaces) would otherwise make training and encoding quadratic.
# Every character belongs to one of these classes, so "".join(pre_split(s)) == s for every string s (tested).
MAX_RUN = 64
_RUN = "{1,%d}" % MAX_RUN  # regex repetition: 1 to MAX_RUN characters
PRE_SPLIT = re.compile(
    rf" ?[^\W\d_]{_RUN}"  # letters
    rf"| ?\d{_RUN}"  # digits
    rf"| ?(?:[^\w\s]|_){_RUN}"  # other symbols
    rf"|\s{_RUN}")  # whitespace
PRE_SPLIT_NAME = f"letters-digits-symbols-spaces-max{MAX_RUN}/v1"  # stored in the JSON: a changed rule is detected


def pre_split(text):
    """text -> list of chunks whose concatenation is `text` (see PRE_SPLIT above)."""
    return PRE_SPLIT.findall(text)


def merge_pair(ids, pair, new_id):
    """Replace each non-overlapping occurrence of `pair` in `ids`, scanning left to right, by `new_id`."""
    a, b = pair
    out, i, n = [], 0, len(ids)
    while i < n:
        if i + 1 < n and ids[i] == a and ids[i + 1] == b:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def chunk_counts(texts):
    """Count identical pre-split chunks over a list of texts: {chunk bytes as tuple of ints: occurrences}."""
    counts = Counter()
    for text in texts:
        counts.update(pre_split(text))
    return {tuple(chunk.encode("utf-8")): n for chunk, n in counts.items()}


def learn_merges_reference(texts, n_merges):
    """Textbook BPE: recount all pairs each round. Returns a list of (a, b) merges, merge k making id 256 + k."""
    table = chunk_counts(texts)
    words = [list(w) for w in table]
    freqs = list(table.values())
    merges = []
    for k in range(n_merges):
        counts = Counter()
        for w, f in zip(words, freqs):
            for pair in zip(w, w[1:]):
                counts[pair] += f
        if not counts:
            break  # every chunk is a single token: nothing left to merge
        best = min(counts, key=lambda p: (-counts[p], p))  # highest count, then smallest pair
        words = [merge_pair(w, best, 256 + k) for w in words]
        merges.append(best)
    return merges


def learn_merges(texts, n_merges):
    """Incremental BPE with the same result as learn_merges_reference (see the module docstring)."""
    table = chunk_counts(texts)
    words = [list(w) for w in table]  # the unique chunks, as current token ids
    freqs = list(table.values())  # how often each unique chunk occurs
    pair_count = defaultdict(int)  # (a, b) -> weighted occurrences over all chunks
    where = defaultdict(set)  # (a, b) -> indices of chunks that contain it
    for i, w in enumerate(words):
        for pair in zip(w, w[1:]):
            pair_count[pair] += freqs[i]
            where[pair].add(i)
    # Max-heap via negated counts. Entries go stale when a count changes; a stale entry is skipped when popped
    # (its count no longer matches pair_count), and every change pushes a fresh entry.
    heap = [(-c, pair) for pair, c in pair_count.items()]
    heapq.heapify(heap)
    merges = []
    while len(merges) < n_merges and heap:
        neg, best = heapq.heappop(heap)
        if pair_count.get(best, 0) != -neg:
            continue  # stale entry
        new_id = 256 + len(merges)
        merges.append(best)
        changed = set()
        for i in where.pop(best):
            old, f = words[i], freqs[i]
            new = merge_pair(old, best, new_id)
            old_pairs, new_pairs = Counter(zip(old, old[1:])), Counter(zip(new, new[1:]))
            for pair in old_pairs.keys() | new_pairs.keys():  # only pairs next to a merge site change
                delta = new_pairs[pair] - old_pairs[pair]
                if delta:
                    pair_count[pair] += delta * f
                    changed.add(pair)
                if pair not in new_pairs:
                    where[pair].discard(i)
                elif pair not in old_pairs:
                    where[pair].add(i)
            words[i] = new
        for pair in changed:
            c = pair_count[pair]
            if c > 0:
                heapq.heappush(heap, (-c, pair))
            else:
                del pair_count[pair]
                where.pop(pair, None)
    return merges
