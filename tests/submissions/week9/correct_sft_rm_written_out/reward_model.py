"""The reward model, written differently: the last real token by argmax, softplus, one forward pass per batch."""

import torch
from torch import nn
from torch.nn import functional as F
from toy import PAD, TinyGPT


class RewardModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.body = TinyGPT(config)
        self.head = nn.Linear(config.n_embd, 1, bias=True)

    def forward(self, ids):
        B, T = ids.shape
        positions = torch.arange(T, device=ids.device).expand(B, T)
        last = torch.where(ids != PAD, positions, torch.full_like(positions, -1)).argmax(dim=1)  # (B,)
        scores = self.head(self.body.hidden(ids)).squeeze(-1)  # (B, T): a score at every position
        return scores.gather(1, last[:, None]).squeeze(1)


def ranking_loss(chosen_rewards, rejected_rewards):
    return F.softplus(rejected_rewards - chosen_rewards).mean()


def train_reward_model(model, chosen, rejected, steps=300, lr=3e-3, batch_size=64, device="cpu", generator=None):
    model.to(device)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    out = []
    for _ in range(steps):
        idx = torch.randint(0, len(chosen), (batch_size,), generator=generator)
        both = torch.cat([chosen[idx], rejected[idx]]).to(device)
        r = model(both)
        loss = ranking_loss(r[:batch_size], r[batch_size:])
        opt.zero_grad()
        loss.backward()
        opt.step()
        out.append(loss.item())
    return out


def preference_accuracy(model, chosen, rejected):
    model.eval()
    with torch.no_grad():
        right = (model(chosen) - model(rejected) > 0).sum().item()
    return right / len(chosen)
