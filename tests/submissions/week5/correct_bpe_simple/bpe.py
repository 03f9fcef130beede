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
    out = list(ids)
    i = 0
    while i < len(out) - 1:
        if (out[i], out[i + 1]) == tuple(pair):
            out[i : i + 2] = [new_id]
        i += 1
    return out


def train_bpe(text, vocab_size):
    """Learn vocab_size - 256 merges from `text` (see the module docstring)."""
    if vocab_size < 256:
        raise ValueError("vocab_size must be at least 256")
    chunks = {}
    for word in pretokenize(text):
        key = tuple(word.encode("utf-8"))
        chunks[key] = chunks.get(key, 0) + 1
    merges = []
    while len(merges) < vocab_size - 256:
        stats = {}
        for ids, n in chunks.items():
            for i in range(len(ids) - 1):
                stats[ids[i], ids[i + 1]] = stats.get((ids[i], ids[i + 1]), 0) + n
        if not stats:
            break
        top = max(stats.values())
        best = sorted(p for p, c in stats.items() if c == top)[0]
        new_id = 256 + len(merges)
        merged = {}
        for ids, n in chunks.items():
            key = tuple(merge(ids, best, new_id))
            merged[key] = merged.get(key, 0) + n
        chunks = merged
        merges.append(best)
    return merges


class Tokenizer:
    """A byte-level BPE tokenizer; tokens are kept as bytes."""

    def __init__(self, merges):
        self.merges = [(int(a), int(b)) for a, b in merges]
        self.token_bytes = [bytes([i]) for i in range(256)]
        for a, b in self.merges:
            self.token_bytes.append(self.token_bytes[a] + self.token_bytes[b])
        self.vocab = dict(enumerate(self.token_bytes))
        self.rank = {pair: r for r, pair in enumerate(self.merges)}
        self.seen = {}

    @property
    def vocab_size(self):
        return len(self.token_bytes)

    def encode_chunk(self, chunk):
        ids = list(chunk.encode("utf-8"))
        while True:
            ranked = [(self.rank[p], i) for i, p in enumerate(zip(ids, ids[1:])) if p in self.rank]
            if not ranked:
                return ids
            r = min(ranked)[0]
            ids = merge(ids, self.merges[r], 256 + r)

    def encode(self, text):
        out = []
        for chunk in pretokenize(text):
            ids = self.seen.get(chunk)
            if ids is None:
                ids = self.seen[chunk] = self.encode_chunk(chunk)
            out += ids
        return out

    def decode(self, ids):
        buf = bytearray()
        for i in ids:
            buf += self.token_bytes[i]
        return bytes(buf).decode("utf-8", "replace")

    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            f.write("bpe v1\n")
            for a, b in self.merges:
                f.write(f"{a} {b}\n")

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as f:
            assert f.readline().strip() == "bpe v1"
            return cls([tuple(map(int, line.split())) for line in f if line.strip()])


def bytes_per_token(tokenizer, text):
    """Compression: UTF-8 bytes of `text` per token (1.0 with no merges; higher is better)."""
    return len(text.encode("utf-8")) / max(1, len(tokenizer.encode(text)))
