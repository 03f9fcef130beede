"""Visible tests for bpe.py: run `pytest test_bpe.py`."""

import functools
import os
import tempfile

from bpe import Tokenizer, load_text, merge, pretokenize, train_bpe
from hypothesis import given, settings
from hypothesis import strategies as st


def test_merge_left_to_right_without_overlap():
    assert merge([1, 2, 3, 1, 2], (1, 2), 256) == [256, 3, 256]
    assert merge([7, 7, 7], (7, 7), 256) == [256, 7], "left to right: the first two 7s merge, the third stays"
    assert merge([7, 7, 7, 7], (7, 7), 256) == [256, 256]
    assert merge([], (1, 2), 256) == []
    ids = [1, 2, 1]
    merge(ids, (1, 2), 256)
    assert ids == [1, 2, 1], "merge returns a new list and leaves its input alone"


def test_train_bpe_classic_example():
    # "aaabdaaabac" is one chunk. (a, a) occurs 4 times (every position of each "aaa" counts) -> 256;
    # then (256, a) and (a, b) both occur twice: the tie goes to the smaller pair (97, 98) -> 257;
    # then (256, 257) -> 258.
    assert train_bpe("aaabdaaabac", 259) == [(97, 97), (97, 98), (256, 257)]


def test_ties_go_to_the_smallest_pair():
    # Chunks "ba" and " ab": the pairs (98, 97), (32, 97) and (97, 98) all occur once.
    assert train_bpe("ba ab", 257) == [(32, 97)]


def test_every_position_of_a_run_counts():
    # "aaaa" holds (a, a) three times; the two " bc" chunks give (32, 98) and (98, 99) twice each.
    assert train_bpe("aaaa bc bc", 257) == [(97, 97)]


def test_vocab_size_and_early_stop():
    text = load_text()[:5000]
    assert train_bpe(text, 256) == []
    assert len(train_bpe(text, 300)) == 44, "vocab_size - 256 merges"
    merges = train_bpe("ab ab abab", 300)
    assert merges == [(97, 98), (32, 256), (257, 256)], "stop when every chunk is a single token"


def test_merges_never_cross_chunks():
    merges = train_bpe("hello world hello world", 300)
    vocab = Tokenizer(merges).vocab
    tokens = [vocab[256 + i] for i in range(len(merges))]
    assert b" world" in tokens and b"hello" in tokens
    assert all(b"o w" not in t and not t.endswith(b" ") for t in tokens), "a merge crossed a chunk boundary"


def test_encode_applies_merges_by_rank():
    # Merge 0 is (b, c), merge 1 is (a, b): in "abc" the lower rank wins, whatever comes first.
    tokenizer = Tokenizer([(98, 99), (97, 98)])
    assert tokenizer.encode("abc") == [97, 256]
    assert tokenizer.encode("ab") == [257]
    assert tokenizer.encode("") == []
    assert tokenizer.vocab[256] == b"bc" and tokenizer.vocab_size == 258


def test_decode_joins_bytes_before_decoding():
    tokenizer = Tokenizer([])
    assert tokenizer.decode(list("😀".encode())) == "😀", "a character's bytes can be spread over tokens"
    assert tokenizer.decode([0xE6]) == "\ufffd", "invalid UTF-8 becomes U+FFFD (errors='replace')"


@functools.lru_cache
def multilingual_tokenizer():
    text = "naïve café 日本語 😀👍🏽 e\u0301te\u0301 Привет мир " * 20 + load_text()[:3000]
    return Tokenizer(train_bpe(text, 340))


@settings(max_examples=300, deadline=None, database=None)
@given(st.text())
def test_roundtrip_any_unicode(text):
    tokenizer = multilingual_tokenizer()
    ids = tokenizer.encode(text)
    assert all(0 <= i < tokenizer.vocab_size for i in ids)
    assert tokenizer.decode(ids) == text
    assert "".join(pretokenize(text)) == text


def test_save_and_load():
    tokenizer = multilingual_tokenizer()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "tok.bpe")
        tokenizer.save(path)
        with open(path, encoding="utf-8") as f:
            assert f.readline().strip() == "bpe v1"
        loaded = Tokenizer.load(path)
    assert loaded.merges == tokenizer.merges, "the merges, in the same order"
    text = "Привет, café! 😀 To be, or not to be"
    assert loaded.encode(text) == tokenizer.encode(text)


def test_compression_on_shakespeare():
    text = load_text()
    tokenizer = Tokenizer(train_bpe(text[:50_000], 512))
    held_out = text[-20_000:]
    ratio = len(held_out.encode("utf-8")) / len(tokenizer.encode(held_out))
    # The rules fix the merges, so every correct implementation gets this very number.
    assert round(ratio, 4) == 1.7886, f"{ratio:.4f} bytes per token, the reference gets 1.7886"
