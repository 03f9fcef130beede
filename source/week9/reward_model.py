"""The reward model (Ouyang et al. 2022, section 3.5, step 2 of Figure 2).

Labelers rank responses; a model learns to score them. The reward model is
the language model with its unembedding replaced by a scalar head, read at
the LAST token of the sequence: in a causal model only that position has
seen the whole prompt and response. With right padding, the last token is
the last one that is not PAD (reading position T - 1 would read padding;
reading position 0 would see one token).

Trained on pairs (y_w preferred to y_l for the same prompt x) with the
Bradley-Terry ranking loss (eq. 1 of the paper, one pair at a time):

    loss(theta) = - E log sigma( r_theta(x, y_w) - r_theta(x, y_l) )
"""

import torch
from torch import nn
from torch.nn import functional as F
from toy import PAD, TinyGPT


class RewardModel(nn.Module):
    """r_theta(x, y): a TinyGPT body and a scalar head on the last non-padding token.

    Attributes (the names the grader loads weights by):
        body: TinyGPT(config) (its lm_head is left unused).
        head: nn.Linear(config.n_embd, 1), with a bias.
    """

    def __init__(self, config):
        super().__init__()
        ### BEGIN SOLUTION
        self.body = TinyGPT(config)
        self.head = nn.Linear(config.n_embd, 1)
        ### END SOLUTION

    def forward(self, ids):
        """ids: (B, T) long, each row prompt + response then right-padded with PAD (at least one token not PAD).

        Returns (B,): head(body.hidden(ids)[b, last_b]), last_b the position of row b's last
        token that is not PAD. Neither the padding's length nor anything after last_b may
        change r.
        """
        ### BEGIN SOLUTION
        h = self.body.hidden(ids)  # (B, T, C)
        last = (ids != PAD).sum(1) - 1  # (B,) right padding: the real tokens come first
        h_last = h[torch.arange(ids.size(0), device=ids.device), last]  # (B, C)
        return self.head(h_last).squeeze(-1)  # (B,)
        ### END SOLUTION


def ranking_loss(chosen_rewards, rejected_rewards):
    """The pairwise ranking loss: mean_b -log sigma(r_chosen[b] - r_rejected[b]), a scalar.

    Both inputs (B,). Compute it stably (F.logsigmoid): a pair ranked wrong by a margin
    of 200 costs 200, not inf.
    """
    ### BEGIN SOLUTION
    return -F.logsigmoid(chosen_rewards - rejected_rewards).mean()
    ### END SOLUTION


def train_reward_model(model, chosen, rejected, steps=300, lr=3e-3, batch_size=64, device="cpu", generator=None):
    """Train a RewardModel on preference pairs, in place.

    Args:
        model: a RewardModel; trained in place, in train mode.
        chosen, rejected: (N, T) long, pair i is (chosen[i], rejected[i]) for the same prompt,
            right-padded with PAD.
        steps: optimizer steps of AdamW(lr, weight_decay=0); each draws batch_size random
            pairs with `generator` (torch.randint(N, (batch_size,), generator=generator)).
        device: where to train.

    Returns:
        The list of the steps' losses (floats).
    """
    ### BEGIN SOLUTION
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    losses = []
    for _ in range(steps):
        rows = torch.randint(len(chosen), (batch_size,), generator=generator)
        loss = ranking_loss(model(chosen[rows].to(device)), model(rejected[rows].to(device)))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
    ### END SOLUTION


@torch.no_grad()
def preference_accuracy(model, chosen, rejected):
    """The share of pairs the model ranks right, r(chosen) > r(rejected): a float. Eval mode."""
    ### BEGIN SOLUTION
    model.eval()
    return (model(chosen) > model(rejected)).float().mean().item()
    ### END SOLUTION
