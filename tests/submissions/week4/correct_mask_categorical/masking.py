"""BERT's masking rule, written with bernoulli and multinomial draws and a list of allowed ids."""

import torch


def mask_tokens(input_ids, mask_id, vocab_size, special_ids, generator=None, mlm_probability=0.15):
    if generator is None:
        generator = torch.default_generator
    specials = {int(s) for s in special_ids}
    allowed = torch.tensor([i for i in range(vocab_size) if i not in specials])
    flat = input_ids.reshape(-1).cpu()
    eligible = torch.tensor([int(t) not in specials for t in flat.tolist()], dtype=torch.bool)
    probs = torch.full(flat.shape, float(mlm_probability), dtype=torch.float64)
    chosen = torch.bernoulli(probs, generator=generator).bool() & eligible
    # One categorical draw per token: 0 = [MASK], 1 = random, 2 = keep.
    action = torch.multinomial(torch.tensor([0.8, 0.1, 0.1]), flat.numel(), replacement=True, generator=generator)
    picks = allowed[torch.multinomial(torch.ones(len(allowed)), flat.numel(), replacement=True, generator=generator)]
    out = flat.clone()
    out = torch.where(chosen & (action == 0), torch.full_like(out, mask_id), out)
    out = torch.where(chosen & (action == 1), picks.to(out.dtype), out)
    labels = torch.where(chosen, flat, torch.full_like(flat, -100)).long()
    return out.view_as(input_ids).to(input_ids.device), labels.view(input_ids.shape).to(input_ids.device)
