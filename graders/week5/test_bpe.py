"""Hidden checks for bpe.py: exact merges, encoding by rank, lossless decoding, save/load, compression, speed.

Every expected value comes from the reference tokenizer run in the grader's
process on the grader's own text (coursekit.grading.week5_toys and Tiny
Shakespeare from the course's data/ folder).

Timing (bpe_encode_speed). The submission's encode runs in its own process,
so the grader times the whole request around it (sending the merges and the
text, building a Tokenizer with an empty cache, encoding, sending the ids
back) and subtracts the same request on a one-character text: what is left
is the encoding. The reference encodes the same text in the grader's process,
twice with a fresh Tokenizer, and its faster run sets the bar: SPEED_FACTOR
times that, and never less than SPEED_FLOOR seconds, so that a busy machine
does not fail a cached encoder (a fraction of a second) while an encoder that
re-scans the text once per merge (several seconds) fails. A time just over the
bar is measured once more.
"""

import random
import time
import uuid

from coursekit.grading import week5_toys as toys
from coursekit.grading.checks import fail

SPEED_FACTOR = 25  # the submission's encode may take this many times the reference's ...
SPEED_FLOOR = 2.0  # ... or this many seconds, whichever is more
SPEED_CHARS = 50_000  # characters of Tiny Shakespeare encoded by the speed check
COMPRESSION_CHARS = 100_000  # the compression check trains on this much of Tiny Shakespeare ...
COMPRESSION_VOCAB = 512  # ... a vocabulary of this size


_MERGES = {}  # the reference's merges, learned once per grading session


def ref_merges(ref, text, vocab_size):
    key = (text, vocab_size)
    if key not in _MERGES:
        _MERGES[key] = tuple(ref.bpe.train_bpe(text, vocab_size))
    return _MERGES[key]


def shakespeare_merges(ref, shakespeare):
    return ref_merges(ref, shakespeare[:COMPRESSION_CHARS], COMPRESSION_VOCAB)


def lexicon_merges(ref):
    return ref_merges(ref, toys.lexicon_corpus(3000, 5), 400)


def as_merges(x, what):
    """The submission's merges as a list of (int, int) tuples."""
    if not isinstance(x, (list, tuple)):
        fail(f"{what} should return a list of pairs, got {type(x).__name__}")
    out = []
    for pair in x:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not all(type(i) is int for i in pair):
            fail(f"{what} should return a list of pairs of ints (a, b), got an item {str(pair)[:40]}")
        out.append(tuple(pair))
    return out


def as_ids(x, what):
    if not isinstance(x, (list, tuple)) or not all(type(i) is int for i in x):
        got = type(x).__name__ if not isinstance(x, (list, tuple)) else "a list with an item that is not an int"
        fail(f"{what} should return a list of ints, got {got}")
    return list(x)


def compare_merges(got, expected, case):
    for i, (g, e) in enumerate(zip(got, expected)):
        if g != e:
            fail(f"merge {i} is {g}, expected {e} (the merges before it agree) [{case}]")
    if len(got) != len(expected):
        fail(f"train_bpe learned {len(got)} merges, expected {len(expected)} [{case}]")


def train(student, text, vocab_size):
    answer = student.call("bpe.train_bpe", text, vocab_size, watch=False)
    return as_merges(answer["outputs"], "train_bpe")


def tokenizer_steps(student, merges, steps, target="bpe.Tokenizer", init=None):
    """Build a Tokenizer of the submission (from `merges`, or `init` args for `target`) and run `steps` on it."""
    answer = student.module(target, init or (list(merges),), None, steps=steps, watch=False)
    return [step["outputs"] for step in answer["steps"]]


def encode_all(student, merges, texts, **kw):
    outs = tokenizer_steps(student, merges, [{"method": "encode", "args": [t]} for t in texts], **kw)
    return [as_ids(o, "encode") for o in outs]


def decode_all(student, merges, id_lists):
    outs = tokenizer_steps(student, merges, [{"method": "decode", "args": [list(ids)]} for ids in id_lists])
    for o in outs:
        if not isinstance(o, str):
            fail(f"decode should return a str, got {type(o).__name__}")
    return outs


def ids_difference(got, expected):
    """Where two id lists part: 'from position i: got [...], expected [...]'."""
    i = next((i for i, (g, e) in enumerate(zip(got, expected)) if g != e), min(len(got), len(expected)))
    return f"from position {i} on: got {got[i : i + 6]}, expected {expected[i : i + 6]}"


def describe_text(text):
    return f"a text of {len(text)} characters" if text else "the empty string"


# --- merge and train_bpe ---


def test_bpe_merge(student, ref):
    rng = random.Random(3)
    cases = [([7, 7, 7], (7, 7)), ([7, 7, 7, 7], (7, 7)), ([1, 2, 1, 2, 1], (1, 2)), ([], (1, 2)), ([5], (5, 5)),
             ([1, 2, 3], (2, 1)), ([300, 1, 300, 300, 1], (300, 1))]  # fmt: skip
    for _ in range(30):
        ids = [rng.choice([1, 2, 3, 260]) for _ in range(rng.randrange(0, 30))]
        cases.append((ids, (rng.choice([1, 2, 260]), rng.choice([1, 2, 260]))))
    for ids, pair in cases:
        got = as_ids(student.call("bpe.merge", list(ids), pair, 999, watch=False)["outputs"], "merge")
        expected = ref.bpe.merge(list(ids), pair, 999)
        if got != expected:
            case = "a run of one id" if pair[0] == pair[1] and len(set(ids)) == 1 else f"{len(ids)} ids"
            fail(f"merge of a pair gives {got[:12]}..., expected {expected[:12]}... [{case}]")


def test_bpe_train_matches_reference(student, ref, shakespeare):
    corpora = {
        "5 KB of Shakespeare, 320 tokens": (shakespeare[200_000:205_000], 320),
        "multilingual text with emoji and combining marks, 330 tokens": (toys.lexicon_corpus(600, 1), 330),
        "random Unicode, 300 tokens": ("".join(toys.unicode_strings(120, 11)), 300),
        "code-like text, 300 tokens": ("def __init__(self, x_1):\n    self.x_1 = x_1 + 2024  # ok!!\n" * 20, 300),
    }
    for case, (text, vocab_size) in corpora.items():
        compare_merges(train(student, text, vocab_size), list(ref_merges(ref, text, vocab_size)), case)


def test_bpe_tie_breaking(student, ref):
    for seed in range(6):
        alphabet = "abc" if seed % 2 else "ba"
        text = toys.tie_corpus(seed, alphabet=alphabet)
        vocab_size = 256 + 40
        expected = list(ref_merges(ref, text, vocab_size))
        compare_merges(train(student, text, vocab_size), expected, f"tie corpus {seed + 1} of 6: ties decide")
    # Runs: (a, a) occurs three times in "aaaa"; the most frequent pair wins only when every position counts.
    text = " ".join(["aaaa"] * 3 + ["bc"] * 8 + ["aaa"] * 2 + ["dd"] * 9)
    compare_merges(train(student, text, 262), list(ref_merges(ref, text, 262)), "runs of one letter")


def test_bpe_vocab_size(student, ref, shakespeare):
    text = shakespeare[:3000]
    for vocab_size in (256, 257, 300):
        got = train(student, text, vocab_size)
        if len(got) != vocab_size - 256:
            fail(f"train_bpe(text, {vocab_size}) learned {len(got)} merges, expected {vocab_size - 256}")
        compare_merges(got, list(ref_merges(ref, text, vocab_size)), f"vocab_size {vocab_size}")
    got = train(student, "ab ab abab", 300)
    expected = ref.bpe.train_bpe("ab ab abab", 300)
    if len(got) != len(expected):
        fail(
            f"on a text with only {len(expected)} possible merges, train_bpe learned {len(got)}: "
            "stop when no chunk has two tokens"
        )
    compare_merges(got, expected, "a text that runs out of pairs")


# --- Tokenizer ---


def test_bpe_encode_matches_reference(student, ref, shakespeare):
    cases = {
        "Shakespeare merges": (
            shakespeare_merges(ref, shakespeare),
            [shakespeare[900_000:905_000], "", "   ", "\n\n\n"],
        ),
        "multilingual merges": (lexicon_merges(ref), [toys.lexicon_corpus(200, 9), *toys.unicode_strings(60, 12)]),
    }
    for case, (merges, texts) in cases.items():
        tokenizer = ref.bpe.Tokenizer(list(merges))
        for text, got in zip(texts, encode_all(student, merges, texts)):
            expected = tokenizer.encode(text)
            if got != expected:
                fail(f"encode's ids differ {ids_difference(got, expected)} [{case}, {describe_text(text)}]")


def test_bpe_encode_rank_order(student, ref):
    for seed in range(8):
        merges = toys.random_merges(seed, 30)
        texts = toys.alphabet_strings(40, seed, alphabet="abcd" if seed % 2 else "abcd ")
        tokenizer = ref.bpe.Tokenizer(merges)
        for text, got in zip(texts, encode_all(student, merges, texts)):
            expected = tokenizer.encode(text)
            if got != expected:
                fail(
                    f"encode's ids differ {ids_difference(got, expected)}: apply merges by rank, lowest first "
                    f"[merge list {seed + 1} of 8]"
                )


def test_bpe_decode(student, ref):
    merges = lexicon_merges(ref)
    tokenizer = ref.bpe.Tokenizer(list(merges))
    rng = random.Random(7)
    vocab_size = 256 + len(merges)
    id_lists = [[], [0xE6], [0xE6, 0x97], [0x80, 0x41], [0xF0, 0x9F, 0x98, 0x80], list(range(256))]
    id_lists += [[rng.randrange(vocab_size) for _ in range(rng.randrange(1, 30))] for _ in range(60)]
    id_lists += [tokenizer.encode(s) for s in toys.unicode_strings(40, 13)]
    for ids, got in zip(id_lists, decode_all(student, merges, id_lists)):
        expected = tokenizer.decode(ids)
        if got != expected:
            bad = "not valid UTF-8" if "\ufffd" in expected else "valid UTF-8"
            fail(f"decode of {len(ids)} ids ({bad}) gives {got[:20]!r}, expected {expected[:20]!r}")


def test_bpe_roundtrip(student, ref):
    merges = lexicon_merges(ref)
    texts = toys.unicode_strings(300, 17)
    encoded = encode_all(student, merges, texts)
    for text, got in zip(texts, decode_all(student, merges, encoded)):
        if got != text:
            fail(f"decode(encode(text)) != text for {describe_text(text)} (got {got[:20]!r}, expected {text[:20]!r})")


def test_bpe_save_load(student, ref, shakespeare):
    merges = list(shakespeare_merges(ref, shakespeare))
    path = f"tokenizer-{uuid.uuid4().hex[:8]}.bpe"  # in the submission's own scratch folder
    tokenizer_steps(student, merges, [{"method": "save", "args": [path]}])
    texts = [shakespeare[1_000_000:1_005_000], *toys.unicode_strings(20, 19)]
    steps = [{"method": "encode", "args": [t]} for t in texts]
    steps.append({"method": "decode", "args": [list(range(256 + len(merges)))]})
    outs = tokenizer_steps(student, merges, steps, target="bpe.Tokenizer.load", init=(path,))
    expected = ref.bpe.Tokenizer(merges)
    for text, got in zip(texts, outs):
        if as_ids(got, "encode after load") != expected.encode(text):
            fail(f"after save and load, encode gives other ids than before [{describe_text(text)}]")
    if outs[-1] != expected.decode(list(range(256 + len(merges)))):
        fail("after save and load, the vocabulary (the bytes of each id) differs")


def test_bpe_compression(student, ref, shakespeare):
    train_text = shakespeare[:COMPRESSION_CHARS]
    held_out = shakespeare[-SPEED_CHARS:]
    merges = train(student, train_text, COMPRESSION_VOCAB)
    [ids] = encode_all(student, merges, [held_out])
    expected = ref.bpe.Tokenizer(list(shakespeare_merges(ref, shakespeare))).encode(held_out)
    n_bytes = len(held_out.encode("utf-8"))
    got_ratio, expected_ratio = n_bytes / max(1, len(ids)), n_bytes / len(expected)
    if len(ids) != len(expected):
        fail(
            f"trained on {COMPRESSION_CHARS // 1000} KB of Tiny Shakespeare with {COMPRESSION_VOCAB} tokens, "
            f"held-out text takes {got_ratio:.4f} bytes per token, the reference {expected_ratio:.4f}"
        )
    if ids != expected:
        fail("held-out text gets as many tokens as with the reference, but other ids")


def test_bpe_encode_speed(student, ref, shakespeare):
    merges = list(shakespeare_merges(ref, shakespeare))
    text = shakespeare[600_000 : 600_000 + SPEED_CHARS]

    def student_seconds():
        start = time.perf_counter()
        encode_all(student, merges, ["a"])  # the same request with almost nothing to encode: the overhead
        overhead = time.perf_counter() - start
        start = time.perf_counter()
        [ids] = encode_all(student, merges, [text])
        return max(0.0, time.perf_counter() - start - overhead), ids

    seconds, ids = student_seconds()
    reference = []
    for _ in range(2):
        tokenizer = ref.bpe.Tokenizer(merges)  # a fresh cache each time, as the submission gets
        start = time.perf_counter()
        expected = tokenizer.encode(text)
        reference.append(time.perf_counter() - start)
    if ids != expected:
        fail("encode gives other ids than the reference on Tiny Shakespeare (see bpe_encode_matches_reference)")
    allowed = max(SPEED_FACTOR * min(reference), SPEED_FLOOR)
    if allowed < seconds < 2 * allowed:  # close: time it once more, in case the machine was busy
        seconds = min(seconds, student_seconds()[0])
    if seconds > allowed:
        fail(
            f"encoding {SPEED_CHARS // 1000} KB of Tiny Shakespeare took {seconds:.2f} s, more than {allowed:.2f} s "
            f"({SPEED_FACTOR}x the reference's {min(reference):.3f} s, at least {SPEED_FLOOR:g} s): "
            "encode each distinct chunk once (a cache) and merge by rank inside it"
        )
