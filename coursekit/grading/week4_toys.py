"""Week 4's toy data, made on the grader's side: a small synthetic language and a classification task.

The same language is given to students, finished, in pretraining.py
(`sample_corpus`, `sample_classification`); this copy is the grader's own,
so held-out data never depends on a submission's code.

The language. Token ids: 0 [PAD], 1 [CLS], 2 [SEP], 3 [MASK], then
N_WORDS words of WORD_LEN tokens each: word w is the tokens
4 + WORD_LEN * w + (0, 1, ..., WORD_LEN - 1). A segment is 1 to MAX_WORDS
words; the first word is uniform, and each next word is (w + s) mod N_WORDS
with s = 1 or 2 at random. An example is a pair of segments,

    [CLS] A [SEP] B [SEP] [PAD] ...        (length SEQ_LEN)

whose segment B continues A's chain, with segment ids 0 for [CLS], A and the
first [SEP], 1 for B and the second [SEP], and 0 on padding. A masked token is
predictable from the other tokens of its word, and across word boundaries
from the chain.

The classification task: does the example contain the trigger word
(word 0)? Labels 1 / 0, half of each.
"""

from __future__ import annotations

import torch

PAD, CLS, SEP, MASK = 0, 1, 2, 3
SPECIAL_IDS = (PAD, CLS, SEP, MASK)
N_WORDS = 8
WORD_LEN = 3
MAX_WORDS = 3  # per segment
VOCAB_SIZE = 4 + N_WORDS * WORD_LEN  # 28
SEQ_LEN = 1 + 2 * (MAX_WORDS * WORD_LEN + 1)  # 21
TRIGGER = 0


def _chain(n_words: int, first: int, generator: torch.Generator) -> list[int]:
    words = [first]
    for _ in range(n_words - 1):
        step = 1 + int(torch.randint(2, (1,), generator=generator))
        words.append((words[-1] + step) % N_WORDS)
    return words


def _tokens(words: list[int]) -> list[int]:
    return [4 + WORD_LEN * w + i for w in words for i in range(WORD_LEN)]


def _example(generator: torch.Generator) -> tuple[list[int], list[int], list[int]]:
    """One example: (token ids, segment ids, its words)."""
    n_a = 1 + int(torch.randint(MAX_WORDS, (1,), generator=generator))
    n_b = 1 + int(torch.randint(MAX_WORDS, (1,), generator=generator))
    first = int(torch.randint(N_WORDS, (1,), generator=generator))
    words = _chain(n_a + n_b, first, generator)
    a, b = _tokens(words[:n_a]), _tokens(words[n_a:])
    ids = [CLS, *a, SEP, *b, SEP]
    segments = [0] * (len(a) + 2) + [1] * (len(b) + 1)
    pad = SEQ_LEN - len(ids)
    return ids + [PAD] * pad, segments + [0] * pad, words


def sample_corpus(n: int, generator: torch.Generator) -> dict:
    """n examples of the language: {"input_ids": (n, SEQ_LEN) long, "token_type_ids": (n, SEQ_LEN) long}."""
    ids, segments = [], []
    for _ in range(n):
        i, s, _ = _example(generator)
        ids.append(i)
        segments.append(s)
    return {"input_ids": torch.tensor(ids), "token_type_ids": torch.tensor(segments)}


def sample_classification(n: int, generator: torch.Generator) -> dict:
    """n examples with "labels" (n,) long: 1 when the trigger word occurs, alternating 0 and 1."""
    ids, segments, labels = [], [], []
    while len(labels) < n:
        want = len(labels) % 2
        i, s, words = _example(generator)
        if int(TRIGGER in words) != want:
            continue
        ids.append(i)
        segments.append(s)
        labels.append(want)
    return {"input_ids": torch.tensor(ids), "token_type_ids": torch.tensor(segments), "labels": torch.tensor(labels)}


def config_fields() -> dict:
    """BertConfig fields of the tiny model the grader trains: plain values, sent to the submission."""
    return dict(
        vocab_size=VOCAB_SIZE, hidden_size=48, num_layers=2, num_heads=3, intermediate_size=96,
        max_position=SEQ_LEN, type_vocab_size=2, dropout=0.1, layer_norm_eps=1e-12, num_labels=2,
        pad_id=PAD, cls_id=CLS, sep_id=SEP, mask_id=MASK,
    )  # fmt: skip


def seeded_generator(seed: int) -> torch.Generator:
    """A CPU torch.Generator in the state manual_seed(seed) gives (built in the submission's process)."""
    return torch.Generator().manual_seed(seed)
