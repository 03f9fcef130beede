"""Decoding, written with Python lists: one hypothesis decoded at a time."""

import math

import torch

from data import BOS, EOS, PAD, padding_mask


@torch.no_grad()
def greedy_decode(model, src, max_len, bos_id=BOS, eos_id=EOS, pad_id=PAD):
    src_mask = padding_mask(src, pad_id)
    memory = model.encode(src, src_mask)
    out = torch.full((src.size(0), 1), bos_id, dtype=torch.long, device=src.device)
    finished = torch.zeros(src.size(0), dtype=torch.bool, device=src.device)
    while out.size(1) < max_len + 1 and not finished.all():
        step = model.decode(out, memory, src_mask)[:, -1].argmax(-1)
        step = torch.where(finished, torch.full_like(step, pad_id), step)
        finished = finished | (step == eos_id)
        out = torch.cat([out, step[:, None]], dim=1)
    padding = torch.full((src.size(0), max_len + 1 - out.size(1)), pad_id, dtype=torch.long, device=src.device)
    return torch.cat([out, padding], dim=1)


@torch.no_grad()
def beam_search(model, src, beam_size, max_len, bos_id=BOS, eos_id=EOS, alpha=0.6, pad_id=PAD):
    src = src[None]
    src_mask = padding_mask(src, pad_id)
    memory = model.encode(src, src_mask)
    beams = [(0.0, [bos_id])]
    done = []
    for t in range(1, max_len + 1):
        candidates = []
        for total, tokens in beams:
            tgt = torch.tensor([tokens], dtype=torch.long, device=src.device)
            logp = torch.log_softmax(model.decode(tgt, memory, src_mask)[0, -1].double(), dim=-1).tolist()
            candidates.extend((total + lp, tokens + [v]) for v, lp in enumerate(logp))
        candidates.sort(key=lambda c: -c[0])
        beams = []
        for total, tokens in candidates[:beam_size]:
            if tokens[-1] == eos_id or t == max_len:
                done.append((total / math.pow(t, alpha), tokens))
            else:
                beams.append((total, tokens))
        if not beams:
            break
    score, tokens = max(done, key=lambda d: d[0])
    return torch.tensor(tokens, dtype=torch.long, device=src.device), score
