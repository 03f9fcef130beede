"""SFT, written differently: pad_sequence, a boolean mask and an explicit token mean."""

import torch
from torch.nn.utils.rnn import pad_sequence
from toy import PAD

IGNORE = -100


def make_sft_batch(prompts, responses, pad_id=PAD):
    rows = [torch.tensor([*p, *r], dtype=torch.long) for p, r in zip(prompts, responses)]
    ids = pad_sequence(rows, batch_first=True, padding_value=pad_id)
    T = ids.size(1)
    pos = torch.arange(T)
    start = torch.tensor([len(p) for p in prompts])[:, None]
    stop = start + torch.tensor([len(r) for r in responses])[:, None]
    is_response = (pos >= start) & (pos < stop)
    labels = torch.where(is_response, ids, torch.full_like(ids, IGNORE))
    return ids, labels


def sft_loss(logits, labels):
    targets = labels[:, 1:]
    keep = targets != IGNORE
    logp = torch.log_softmax(logits[:, :-1], dim=-1)
    picked = logp.gather(2, targets.clamp(min=0).unsqueeze(2)).squeeze(2)
    return -(picked * keep).sum() / keep.sum()


def train_sft(model, ids, labels, steps=300, lr=3e-3, batch_size=64, device="cpu", generator=None):
    model = model.to(device)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for step in range(steps):
        pick = torch.randint(ids.shape[0], (batch_size,), generator=generator)
        x, y = ids[pick].to(device), labels[pick].to(device)
        opt.zero_grad()
        loss = sft_loss(model(x), y)
        loss.backward()
        opt.step()
        history.append(float(loss))
    return history
