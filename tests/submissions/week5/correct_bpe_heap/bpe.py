"""Byte-level byte-pair encoding (Sennrich et al., 2016; GPT-2's byte-level BPE, Radford et al., 2019, section 2.2).

A language model reads integers. Characters make long sequences; words make
a huge vocabulary that still misses rare words. BPE starts from the smallest
units and learns, from a corpus, which adjacent pairs to glue together:

    start:  every text is its UTF-8 bytes, ids 0..255 (no unknown tokens, ever)
    repeat: count every adjacent pair of ids in the corpus;
            the most frequent pair (a, b) becomes a new token 256 + i
            (merge i), and every occurrence of (a, b) is replaced by it

until the vocabulary has `vocab_size` tokens. Encoding a new text replays
the merges in the order they were learned; decoding concatenates each
token's bytes and decodes them as UTF-8.

The exact rules (so that every correct implementation learns the same merges):

1. Pre-tokenisation. The text is split into chunks with `pretokenize` (the
   regular expression PATTERN, GPT-2's split written for Python's `re`):
   contractions, runs of letters, runs of digits and runs of other symbols,
   each with at most one leading space, and runs of whitespace. Merges never
   cross a chunk boundary. The chunks, joined, give back the text exactly.
2. Counting. A chunk is the list of its UTF-8 bytes; a chunk that occurs n
   times in the text counts n times. Every adjacent position counts: the
   chunk "aaaa" holds the pair (a, a) three times.
3. Choosing. The pair with the largest count is merged. Ties go to the
   smallest pair in lexicographic order of ids: (a, b) < (c, d) when a < c,
   or a == c and b < d.
4. Merging. In every chunk, occurrences of the pair are replaced scanning
   left to right, without overlap: merging (a, a) in "aaa" gives [new, a].
5. Stopping. Merge i (counting from 0) creates id 256 + i, so a vocabulary
   of `vocab_size` tokens has vocab_size - 256 merges; training stops early
   when no chunk has two tokens left.
"""

import heapq
import re
from collections import Counter, defaultdict
from pathlib import Path

# GPT-2's pre-tokenisation pattern, written with Python's `re` (no \p{L}): [^\W\d_] is a letter,
# (?:[^\s\w]|_) a symbol that is neither a letter, a digit nor whitespace.
PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"""


def pretokenize(text):
    """Split `text` into the chunks BPE works inside (rule 1). "".join(pretokenize(text)) == text.

    Example: pretokenize("Hello world, it's 2024!") ->
        ['Hello', ' world', ',', ' it', "'s", ' 2024', '!']
    """
    return re.findall(PATTERN, text)


def load_text(path=None):
    """Tiny Shakespeare (the week's folder holds a copy), or the text file at `path`."""
    here = Path(globals().get("__file__", "tinyshakespeare.txt")).resolve().parent
    return Path(path or here / "tinyshakespeare.txt").read_text(encoding="utf-8")


def merge(ids, pair, new_id):
    """Replace each occurrence of `pair` in `ids` by `new_id`, left to right, without overlap (rule 4)."""
    a, b = pair
    out = []
    skip = False
    for i, x in enumerate(ids):
        if skip:
            skip = False
            continue
        if x == a and i + 1 < len(ids) and ids[i + 1] == b:
            out.append(new_id)
            skip = True
        else:
            out.append(x)
    return out


def _pairs(ids):
    counts = Counter()
    for p in zip(ids, ids[1:]):
        counts[p] += 1
    return counts


def train_bpe(text, vocab_size):
    """Learn vocab_size - 256 merges from `text`: incremental counts, the best pair from a lazy heap."""
    if vocab_size < 256:
        raise ValueError("vocab_size must be at least 256")
    words = Counter(pretokenize(text))
    chunks = [list(w.encode("utf-8")) for w in words]
    freq = list(words.values())
    stats = Counter()
    index = defaultdict(set)
    for j, ids in enumerate(chunks):
        for p, c in _pairs(ids).items():
            stats[p] += c * freq[j]
            index[p].add(j)
    heap = [(-c, p) for p, c in stats.items()]
    heapq.heapify(heap)
    merges = []
    while len(merges) < vocab_size - 256:
        while heap and stats.get(heap[0][1], 0) != -heap[0][0]:
            heapq.heappop(heap)  # stale: the count changed since this entry was pushed
        if not heap:
            break
        _, best = heapq.heappop(heap)
        new_id = 256 + len(merges)
        changed = set()
        for j in index.pop(best, ()):
            before = _pairs(chunks[j])
            chunks[j] = merge(chunks[j], best, new_id)
            after = _pairs(chunks[j])
            for p in before.keys() | after.keys():
                delta = (after.get(p, 0) - before.get(p, 0)) * freq[j]
                if delta:
                    stats[p] += delta
                    changed.add(p)
            for p in after:
                index[p].add(j)
        for p in changed:
            if stats[p] > 0:
                heapq.heappush(heap, (-stats[p], p))
            else:
                del stats[p]
        merges.append(best)
    return merges


class Tokenizer:
    """Byte-level BPE; encode_chunk merges with a heap of (rank, position) over a linked list."""

    def __init__(self, merges):
        self.merges = [tuple(m) for m in merges]
        self.ranks = {m: r for r, m in enumerate(self.merges)}
        self.vocab = {i: bytes([i]) for i in range(256)}
        for r, (a, b) in enumerate(self.merges):
            self.vocab[256 + r] = self.vocab[a] + self.vocab[b]
        self._memo = {}

    @property
    def vocab_size(self):
        return 256 + len(self.merges)

    def encode_chunk(self, chunk):
        ids = list(chunk.encode("utf-8"))
        n = len(ids)
        nxt = list(range(1, n + 1))
        prv = list(range(-1, n - 1))
        alive = [True] * n
        heap = [(self.ranks[p], i) for i, p in enumerate(zip(ids, ids[1:])) if p in self.ranks]
        heapq.heapify(heap)
        while heap:
            r, i = heapq.heappop(heap)
            j = nxt[i] if alive[i] else n
            if j >= n or self.ranks.get((ids[i], ids[j])) != r:
                continue  # stale
            ids[i] = 256 + r
            alive[j] = False
            nxt[i] = nxt[j]
            if nxt[j] < n:
                prv[nxt[j]] = i
            for left in (prv[i], i):
                if left >= 0 and nxt[left] < n:
                    rank = self.ranks.get((ids[left], ids[nxt[left]]))
                    if rank is not None:
                        heapq.heappush(heap, (rank, left))
        return [ids[i] for i in range(n) if alive[i]]

    def encode(self, text):
        out = []
        for chunk in pretokenize(text):
            if chunk not in self._memo:
                self._memo[chunk] = self.encode_chunk(chunk)
            out.extend(self._memo[chunk])
        return out

    def decode(self, ids):
        return b"".join(map(self.vocab.__getitem__, ids)).decode("utf-8", errors="replace")

    def save(self, path):
        Path(path).write_text("bpe v1\n" + "".join(f"{a} {b}\n" for a, b in self.merges), encoding="utf-8")

    @classmethod
    def load(cls, path):
        header, *rest = Path(path).read_text(encoding="utf-8").split("\n")
        if header != "bpe v1":
            raise ValueError("not a bpe v1 file")
        return cls([tuple(int(x) for x in line.split()) for line in rest if line])


def bytes_per_token(tokenizer, text):
    """Compression: UTF-8 bytes of `text` per token (1.0 with no merges; higher is better)."""
    return len(text.encode("utf-8")) / max(1, len(tokenizer.encode(text)))
