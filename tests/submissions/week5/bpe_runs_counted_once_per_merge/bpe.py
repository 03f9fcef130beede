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
    """Replace each occurrence of `pair` in `ids` by `new_id`, left to right, without overlap (rule 4).

    Args:
        ids: a list of ints (not modified).
        pair: a tuple (a, b) of ints.
        new_id: the id that replaces a, b.

    Returns:
        A new list. merge([1, 2, 3, 1, 2], (1, 2), 256) -> [256, 3, 256];
        merge([7, 7, 7], (7, 7), 256) -> [256, 7].
    """
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def train_bpe(text, vocab_size):
    """Learn the merges of a byte-level BPE vocabulary of `vocab_size` tokens from `text`.

    Args:
        text: the training corpus, a str.
        vocab_size: at least 256; the result has vocab_size - 256 merges,
            fewer only when no chunk has two tokens left (rule 5).

    Returns:
        merges: a list of pairs (a, b), in the order they were learned;
        merges[i] created id 256 + i. Follow the rules of the module
        docstring exactly: pre-tokenise with `pretokenize`, count pairs in
        every chunk weighted by its number of occurrences (all adjacent
        positions), merge the most frequent pair (ties: the smallest pair),
        and replace it with `merge`.

    Raises:
        ValueError: when vocab_size < 256.

    Hint: work on the distinct chunks, each weighted by how often it occurs
    (a Counter of chunks): there are far fewer of them than chunks. The
    simplest loop counts all pairs again after every merge; it takes a few
    seconds for 100 KB of text and 256 merges, which is fine. Faster: after
    merging (a, b), only the chunks that held (a, b) change, so update the
    counts of those chunks' pairs only.
    """
    if vocab_size < 256:
        raise ValueError(f"vocab_size must be at least 256 (the bytes), got {vocab_size}")
    words = Counter(pretokenize(text))  # chunk -> number of occurrences
    chunks = [list(word.encode("utf-8")) for word in words]
    counts = list(words.values())
    merges = []
    for i in range(vocab_size - 256):
        stats = Counter()
        for ids, n in zip(chunks, counts):
            j = 0
            while j + 1 < len(ids):
                stats[ids[j], ids[j + 1]] += n
                j += 2 if ids[j] == ids[j + 1] else 1  # a run's pairs do not overlap
        if not stats:
            break  # every chunk is a single token
        best = min(stats, key=lambda p: (-stats[p], p))  # most frequent; ties: the smallest pair
        chunks = [merge(ids, best, 256 + i) for ids in chunks]
        merges.append(best)
    return merges


class Tokenizer:
    """A byte-level BPE tokenizer made from the merges `train_bpe` learned.

    Args:
        merges: a list of pairs (a, b); merges[i] makes id 256 + i.

    Attributes:
        merges: the list of merges, as tuples, in order.
        vocab: dict id -> bytes: bytes([i]) for i < 256, and
            vocab[256 + i] = vocab[a] + vocab[b] for merges[i] = (a, b).
        vocab_size: 256 + len(merges).

    Encoding (rule of the module docstring): pre-tokenise, then in each chunk
    apply the merges in the order they were learned (rank = index in
    `merges`). The fast way to do this, and the one to write: repeatedly
    find, among the chunk's adjacent pairs, the one with the lowest rank,
    and merge it; stop when no adjacent pair is a merge. Cache the ids of
    each distinct chunk: text repeats its words.
    """

    def __init__(self, merges):
        self.merges = [tuple(pair) for pair in merges]
        self.ranks = {pair: i for i, pair in enumerate(self.merges)}  # (a, b) -> merge index
        self.vocab = {i: bytes([i]) for i in range(256)}
        for i, (a, b) in enumerate(self.merges):
            self.vocab[256 + i] = self.vocab[a] + self.vocab[b]
        self.cache = {}  # chunk -> its ids

    @property
    def vocab_size(self):
        return 256 + len(self.merges)

    def encode_chunk(self, chunk):
        """The ids of one chunk: its UTF-8 bytes with the merges applied by rank."""
        ids = list(chunk.encode("utf-8"))
        while len(ids) >= 2:
            pair = min(zip(ids, ids[1:]), key=lambda p: self.ranks.get(p, float("inf")))
            if pair not in self.ranks:
                break  # nothing left to merge
            ids = merge(ids, pair, 256 + self.ranks[pair])
        return ids

    def encode(self, text):
        """text (str) -> list of token ids. encode("") == []."""
        ids = []
        for chunk in pretokenize(text):
            if chunk not in self.cache:
                self.cache[chunk] = self.encode_chunk(chunk)
            ids.extend(self.cache[chunk])
        return ids

    def decode(self, ids):
        """List of token ids -> str.

        Join the bytes of all the tokens FIRST, then decode them as UTF-8 with
        errors="replace": a character's bytes may be split over two tokens, and
        an arbitrary id sequence may not be valid UTF-8 (its bad bytes become
        U+FFFD, as GPT-2 does). decode(encode(text)) == text for every str.
        """
        return b"".join(self.vocab[i] for i in ids).decode("utf-8", errors="replace")

    def save(self, path):
        """Write the merges to the text file `path`: the line "bpe v1", then one line "a b" per merge, in order."""
        lines = ["bpe v1", *(f"{a} {b}" for a, b in self.merges)]
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path):
        """The Tokenizer that `save` wrote to `path`, with the merges in the same order."""
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        if not lines or lines[0] != "bpe v1":
            raise ValueError(f"{path} is not a file written by Tokenizer.save")
        return cls([tuple(int(x) for x in line.split()) for line in lines[1:] if line.strip()])


def bytes_per_token(tokenizer, text):
    """Compression: UTF-8 bytes of `text` per token (1.0 with no merges; higher is better)."""
    return len(text.encode("utf-8")) / max(1, len(tokenizer.encode(text)))
