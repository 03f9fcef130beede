"""Week 5's data, made on the grader's side: Tiny Shakespeare's splits, corpora for BPE, random Unicode.

The character vocabulary and the train/validation split are the ones
students get, finished, in training.py (`CharVocab`, `split_text`); these
copies are the grader's own, so held-out data never depends on a
submission's code. Everything else here makes inputs for the BPE checks:

- `unicode_strings`: arbitrary text (ASCII, accents and combining marks, CJK,
  emoji with skin tones and joiners, other astral characters, whitespace
  runs, digits, symbols, the empty string), never a lone surrogate;
- `lexicon_corpus`: text made of words from a small multilingual lexicon, so
  that BPE merges multi-byte characters;
- `tie_corpus`: words over a two- or three-letter alphabet, whose pair counts
  tie often, so the tie-breaking rule decides many merges, with long runs
  ("aaaa") where the counting of overlapping pairs matters;
- `random_merges`: a valid merge list that no corpus taught (merge i uses
  ids below 256 + i only), to check that encoding follows the ranks.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch

DATA = Path(__file__).resolve().parents[2] / "data" / "tinyshakespeare.txt"

# --- Tiny Shakespeare, as training.py gives it to students ---


def tiny_shakespeare(path: str | Path | None = None) -> str:
    return Path(path or DATA).read_text(encoding="utf-8")


def split_text(text: str, train_fraction: float = 0.9) -> tuple[str, str]:
    n = int(len(text) * train_fraction)
    return text[:n], text[n:]


def char_vocab(text: str) -> list[str]:
    """The characters of `text`, sorted by code point: character chars[i] has id i."""
    return sorted(set(text))


def encode_chars(text: str, chars: list[str]) -> torch.Tensor:
    stoi = {c: i for i, c in enumerate(chars)}
    return torch.tensor([stoi[c] for c in text], dtype=torch.long)


def config_fields(vocab_size: int = 65) -> dict:
    """GPTConfig fields of the tiny character model the submission trains for the grader: plain values."""
    return dict(vocab_size=vocab_size, block_size=32, n_layer=2, n_head=4, n_embd=64, dropout=0.0, layer_norm_eps=1e-5)


def eval_windows(data: torch.Tensor, block_size: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n evenly spaced windows of `data` (x) and the tokens that follow them (y): (n, block_size) each."""
    starts = torch.linspace(0, len(data) - block_size - 1, n).long()
    index = starts[:, None] + torch.arange(block_size)
    return data[index], data[index + 1]


def seeded_generator(seed: int) -> torch.Generator:
    """A CPU torch.Generator in the state manual_seed(seed) gives (built in the submission's process)."""
    return torch.Generator().manual_seed(seed)


# --- text for the BPE checks ---

ASCII = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
SYMBOLS = "!?.,;:-_'\"()[]{}<>@#$%^&*+=/\\|~`"
WHITESPACE = [" ", "  ", "\n", "\n\n", "\t", "\r\n", " \n ", "\u3000", "\xa0", "    "]
PIECES = [
    "e\u0301",  # e + combining acute
    "n\u0303\u0323",  # n + two combining marks
    "\u0301",  # a combining mark on its own
    "é",
    "ß",
    "Ω",
    "Привет",
    "日本語",
    "中文",
    "한국어",
    "العربية",
    "😀",
    "👍🏽",  # emoji + skin tone
    "👨\u200d👩\u200d👧",  # joined family
    "🇫🇷",  # a flag: two regional indicators
    "𝔘𝔫𝔦",  # mathematical letters (astral)
    "\U0001f9ea",
    "\U00010348",  # Gothic letter
    "\U000e0041",  # a tag character
    "\U0010fffd",  # the last private-use plane
    "'s",
    "'ll",
    "__init__",
    "x²",
    "١٢٣",  # Arabic-Indic digits
]
LEXICON = [
    "the", "naïve", "café", "über", "smörgåsbord", "日本語", "東京", "中文", "Привет", "мир", "😀", "👍🏽",
    "e\u0301te\u0301", "🇫🇷", "αβγ", "한국어", "שלום", "42", "2024", "__init__", "don't", "we'll",
]  # fmt: skip


def _random_code_point(rng: random.Random) -> str:
    """One character from all of Unicode except the surrogates (U+D800..U+DFFF)."""
    while True:
        cp = rng.choice([rng.randrange(0x80, 0x800), rng.randrange(0x800, 0x10000), rng.randrange(0x10000, 0x110000)])
        if not 0xD800 <= cp <= 0xDFFF:
            return chr(cp)


def unicode_string(rng: random.Random, max_parts: int = 12) -> str:
    parts = []
    for _ in range(rng.randrange(max_parts + 1)):
        kind = rng.randrange(7)
        if kind == 0:
            parts.append("".join(rng.choice(ASCII) for _ in range(rng.randrange(1, 8))))
        elif kind == 1:
            parts.append(rng.choice(WHITESPACE))
        elif kind == 2:
            parts.append(rng.choice(PIECES))
        elif kind == 3:
            parts.append("".join(_random_code_point(rng) for _ in range(rng.randrange(1, 4))))
        elif kind == 4:
            parts.append("".join(rng.choice(SYMBOLS) for _ in range(rng.randrange(1, 4))))
        elif kind == 5:
            parts.append(str(rng.randrange(10**6)))
        else:
            parts.append(rng.choice(LEXICON))
    return "".join(parts)


def unicode_strings(n: int, seed: int) -> list[str]:
    """n arbitrary strings; the first ones are the edge cases: empty, whitespace only, one character."""
    rng = random.Random(seed)
    fixed = ["", " ", "   ", "\n\n\n", " \t\n \r\n  ", "a", "😀", "\u0301", "e\u0301", "日本語 テキスト", "\U0010fffd"]
    return fixed + [unicode_string(rng) for _ in range(n - len(fixed))]


def lexicon_corpus(n_words: int, seed: int) -> str:
    """Words of LEXICON (Zipf-like frequencies) separated by spaces, punctuation and newlines."""
    rng = random.Random(seed)
    weights = [1 / (i + 1) for i in range(len(LEXICON))]
    out = []
    for _ in range(n_words):
        out.append(rng.choices(LEXICON, weights)[0])
        out.append(rng.choice([" ", " ", " ", ", ", ".\n", "! ", "  "]))
    return "".join(out)


def tie_corpus(seed: int, n_words: int = 60, alphabet: str = "abc") -> str:
    """Short words over a tiny alphabet, some of them long runs of one letter: many tied pair counts."""
    rng = random.Random(seed)
    words = []
    for _ in range(n_words):
        if rng.random() < 0.2:
            words.append(rng.choice(alphabet) * rng.randrange(3, 7))  # a run: "aaaa"
        else:
            words.append("".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 6))))
    return " ".join(words)


def random_merges(seed: int, n_merges: int, alphabet: str = "abcd ") -> list[tuple[int, int]]:
    """A valid merge list over the bytes of `alphabet`: merge i joins two ids that exist before it."""
    rng = random.Random(seed)
    ids = sorted(set(alphabet.encode("utf-8")))
    merges, seen = [], set()
    while len(merges) < n_merges:
        pair = (rng.choice(ids), rng.choice(ids))
        if pair in seen:
            continue
        seen.add(pair)
        merges.append(pair)
        ids.append(255 + len(merges))
    return merges


def alphabet_strings(n: int, seed: int, alphabet: str = "abcd", max_len: int = 20) -> list[str]:
    """n strings over `alphabet` (no spaces: one chunk each, so every merge can apply)."""
    rng = random.Random(seed)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randrange(1, max_len))) for _ in range(n)]
