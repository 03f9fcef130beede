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
from llama import KVCache, Llama, LlamaConfig
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
    tokens = seqs[..., :-1]
    position = torch.arange(tokens.shape[1], device=seqs.device)
    targets = torch.where(position >= N_COPY, seqs[..., 1:], torch.full_like(tokens, -100))
    return tokens, targets


def copy_accuracy(model, seqs):
    was_training = model.training
    model.eval()
    right = 0
    with torch.no_grad():
        cache = KVCache()
        logits = model(seqs[:, : N_COPY + 1], kv_cache=cache)
        for k in range(N_COPY):
            guess = logits[:, -1].argmax(-1)
            right += (guess == seqs[:, N_COPY + 1 + k]).sum().item()
            logits = model(guess[:, None], kv_cache=cache)
    model.train(was_training)
    return right / (seqs.shape[0] * N_COPY)


def train_copy(config, data, steps=300, seed=0, device="cpu", batch_size=64, lr=1e-2):
    torch.manual_seed(seed)
    model = Llama(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    cursor = 0
    for _ in range(steps):
        if cursor + batch_size > len(order):
            order, cursor = torch.randperm(len(data)), 0
        batch = data[order[cursor : cursor + batch_size]].to(device)
        cursor += batch_size
        tokens, targets = copy_batch(batch)
        logits = model(tokens)
        mask = targets != -100
        loss = F.cross_entropy(logits[mask], targets[mask])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model
