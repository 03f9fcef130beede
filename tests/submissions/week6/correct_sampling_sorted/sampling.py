"""Sampling, written differently."""

import torch
from gpt import KVCache


def top_k_filter(logits, k):
    values = logits.sort(dim=-1, descending=True).values
    kth = values[..., min(k, logits.shape[-1]) - 1].unsqueeze(-1)
    return torch.where(logits >= kth, logits, torch.full_like(logits, -float("inf")))


def top_p_filter(logits, p):
    sorted_logits, order = torch.sort(logits, dim=-1)  # ascending
    tail_mass = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    remove = tail_mass <= 1 - p
    remove[..., -1] = False  # the most likely token stays
    remove = torch.zeros_like(remove).scatter(-1, order, remove)
    return logits.masked_fill(remove, -float("inf"))


def sampling_probs(logits, temperature=1.0, top_k=None, top_p=None):
    if temperature == 0:
        return torch.zeros_like(logits).scatter_(-1, logits.argmax(-1, keepdim=True), 1.0)
    z = logits / temperature
    if top_k is not None:
        z = top_k_filter(z, top_k)
    if top_p is not None:
        z = top_p_filter(z, top_p)
    return torch.softmax(z, dim=-1)


def generate(model, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, generator=None, use_cache=True):
    B, T = idx.shape
    block = model.config.block_size
    out = torch.empty(B, T + max_new_tokens, dtype=idx.dtype, device=idx.device)
    out[:, :T] = idx
    cache = KVCache() if use_cache else None
    with torch.no_grad():
        for t in range(T, T + max_new_tokens):
            if cache is not None and t <= block:
                new = out[:, len(cache) : t]  # the prompt first, then one token at a time
                logits = model(new, kv_cache=cache)[0][:, -1]
            else:
                logits = model(out[:, max(0, t - block) : t])[0][:, -1]
            if temperature == 0:
                out[:, t] = logits.argmax(-1)
            else:
                probs = sampling_probs(logits, temperature, top_k, top_p)
                out[:, t] = torch.multinomial(probs, 1, generator=generator)[:, 0]
    return out
