"""Visible tests for reward_model.py: run `pytest test_reward_model.py` (the last one trains for a few seconds)."""

import math

import torch
from reward_model import RewardModel, preference_accuracy, ranking_loss, train_reward_model
from toy import PAD, SEP, LMConfig, sample_preferences


def test_reward_model_parameters():
    names = set(RewardModel(LMConfig()).state_dict())
    assert {"head.weight", "head.bias", "body.wte.weight", "body.lm_head.weight"} <= names
    assert RewardModel(LMConfig()).head.weight.shape == (1, LMConfig().n_embd)


def test_reward_is_read_at_the_last_real_token():
    torch.manual_seed(0)
    model = RewardModel(LMConfig())
    for p in model.parameters():
        p.data.mul_(10.0)  # a random model with distinct outputs at every position
    ids = torch.tensor([[3, 1, 4, 1, SEP, 5, 9, PAD, PAD], [2, 7, 1, 8, SEP, 2, 8, 1, 8]])
    r = model(ids)
    assert r.shape == (2,)
    more_padding = torch.cat([ids, torch.full((2, 2), PAD)], dim=1)
    assert torch.allclose(model(more_padding), r), "more padding changed the reward"
    last = model.head(model.body.hidden(ids[:1, :7]))[0, -1, 0]  # row 0 alone, cut after its last real token
    assert torch.allclose(r[0], last, atol=1e-5), "row 0's reward should be read at its position 6"


def test_ranking_loss_edge_cases():
    r = torch.randn(5)
    assert torch.allclose(ranking_loss(r, r), torch.tensor(math.log(2))), "ties cost log 2"
    loss = ranking_loss(torch.tensor([-100.0]), torch.tensor([100.0]))
    assert torch.isfinite(loss) and torch.allclose(loss, torch.tensor(200.0)), "use F.logsigmoid"
    assert ranking_loss(torch.tensor([3.0]), torch.tensor([0.0])) < ranking_loss(
        torch.tensor([0.0]), torch.tensor([3.0])
    )


def test_train_reward_model_ranks_held_out_pairs():
    torch.manual_seed(0)
    model = RewardModel(LMConfig())
    data = sample_preferences(2000, torch.Generator().manual_seed(0))
    losses = train_reward_model(
        model, data["chosen"], data["rejected"], steps=40, generator=torch.Generator().manual_seed(1)
    )
    assert len(losses) == 40 and losses[-1] < losses[0]
    held = sample_preferences(1000, torch.Generator().manual_seed(2))
    accuracy = preference_accuracy(model, held["chosen"], held["rejected"])
    assert isinstance(accuracy, float) and accuracy > 0.95, f"held-out pairs ranked right: {accuracy:.1%}"
