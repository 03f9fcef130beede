"""Training a small LLaMA to copy: a task that needs attention by relative position.

Each sequence is N_COPY random symbols, a separator, and the same symbols again:

    x_1 x_2 ... x_8 SEP x_1 x_2 ... x_8          (17 tokens; symbols 0..15, SEP = 16)

The first half is random: nothing predicts it. The second half is a copy: the
token after position p is the one 9 positions back, at p - 8. Attention that
looks a fixed offset back is what RoPE makes easy, since q_m . k_n depends on
m - n only. The model is scored by generation: given x_1 .. x_8 SEP, greedy
decoding (with the KV cache) should write x_1 .. x_8 again.
"""

import torch
from llama import Llama, LlamaConfig, generate
from torch.nn import functional as F

# --- the task (finished) ---

N_SYMBOLS, N_COPY = 16, 8
SEP = N_SYMBOLS
VOCAB_SIZE = N_SYMBOLS + 1  # 17
SEQ_LEN = 2 * N_COPY + 1  # 17


def copy_config(**overrides):
    """The small LLaMA of this task: 2 layers, 4 query heads sharing 2 key/value heads, d_model = 32."""
    fields = dict(vocab_size=VOCAB_SIZE, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_hidden=64)
    return LlamaConfig(**{**fields, **overrides})


def sample_copy(n, generator):
    """n sequences x_1 .. x_8 SEP x_1 .. x_8 of uniformly random symbols: (n, 17) long."""
    x = torch.randint(N_SYMBOLS, (n, N_COPY), generator=generator)  # (n, 8)
    sep = torch.full((n, 1), SEP, dtype=torch.long)
    return torch.cat([x, sep, x], dim=1)


# --- what you write ---


def copy_batch(seqs):
    """Inputs and targets for next-token training with the loss on the copy only.

    Args:
        seqs: (B, 17) long, rows x_1 .. x_8 SEP x_1 .. x_8.

    Returns:
        (tokens, targets), both (B, 16) long: tokens = seqs without its last token;
        targets[:, t] = seqs[:, t + 1] where that next token is part of the copy
        (t = 8 .. 15: the SEP predicts x_1, the copied x_k predicts x_{k+1}), and -100
        elsewhere (t = 0 .. 7: the next token is random, or the SEP that always comes).
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement copy_batch in training.py')


@torch.no_grad()
def copy_accuracy(model, seqs):
    """The share of copied symbols that greedy generation gets right.

    Args:
        model: a Llama (put it in eval mode).
        seqs: (B, 17) long sequences, on the model's device.

    Returns:
        A float: over the B rows and the 8 positions of the copy, the share where
        generate(model, seqs[:, :9], 8, temperature=0) (with the KV cache) writes the symbol
        of seqs. A mistake is counted where it happens; the tokens after it are still compared.
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement copy_accuracy in training.py')


def train_copy(config, data, steps=300, seed=0, device="cpu", batch_size=64, lr=1e-2):
    """Train a Llama to copy.

    Args:
        config: a LlamaConfig (copy_config()).
        data: (N, 17) long training sequences (sample_copy), on the CPU or on `device`.
        steps: optimizer steps; each takes batch_size random rows of data
            (a torch.Generator seeded with `seed` draws them).
        seed: torch.manual_seed(seed) before building the model, and the batches' generator.
        device: where to train.

    Returns:
        The trained Llama on `device`. Use copy_batch (the loss on the copy only), F.cross_entropy
        with ignore_index=-100 and AdamW with lr. With the defaults the copy is near perfect
        after a few seconds.
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement train_copy in training.py')
