"""Visible tests for ppo.py: run `pytest test_ppo.py` (the last one trains for a few seconds)."""

import torch
from ppo import gae, kl_penalty, policy_loss, shaped_rewards, train_ppo, value_loss, whiten
from toy import LMConfig, TinyGPT, ValueModel, evaluate_policy, sample_prompts, score


def test_kl_penalty_signs():
    logp, ref = torch.tensor([[-1.0, -2.0]]), torch.tensor([[-2.0, -1.0]])
    assert torch.allclose(kl_penalty(logp, ref), torch.tensor([[1.0, -1.0]])), "k1 = logprobs - ref_logprobs"
    assert (kl_penalty(logp, ref, "k2") >= 0).all() and (kl_penalty(logp, ref, "k3") >= 0).all()
    assert torch.allclose(kl_penalty(logp, logp, "k3"), torch.zeros(1, 2))


def test_shaped_rewards_put_the_score_on_the_last_token():
    kl = torch.ones(2, 3)
    mask = torch.tensor([[True, True, True], [True, True, False]])
    rewards = shaped_rewards(torch.tensor([5.0, 7.0]), kl, mask, beta=0.1)
    assert torch.allclose(rewards, torch.tensor([[-0.1, -0.1, 4.9], [-0.1, 6.9, 0.0]]))


def test_gae_special_cases():
    rewards, values = torch.tensor([[0.0, 0.0, 1.0]]), torch.tensor([[0.5, 0.2, 0.9]])
    done = torch.tensor([[False, False, True]])
    adv, ret = gae(rewards, values, done, torch.tensor([123.0]), gamma=1.0, lam=1.0)
    assert torch.allclose(ret, torch.ones(1, 3)), "lambda = gamma = 1: returns are the rewards to go"
    assert torch.allclose(adv, ret - values)
    adv0, _ = gae(rewards, values, done, torch.tensor([123.0]), gamma=1.0, lam=0.0)
    assert torch.allclose(adv0, torch.tensor([[-0.3, 0.7, 0.1]])), "lambda = 0: the one-step TD errors"
    # an episode that ends at step 0, then one left unfinished: bootstrap from next_value only at the end
    adv, _ = gae(torch.zeros(1, 2), torch.zeros(1, 2), torch.tensor([[True, False]]), torch.tensor([2.0]), 0.5, 1.0)
    assert torch.allclose(adv, torch.tensor([[0.0, 1.0]]))


def test_whiten():
    x = torch.tensor([[1.0, 2.0, 3.0, 100.0]])
    mask = torch.tensor([[True, True, True, False]])
    w = whiten(x, mask)
    assert (
        w[0, 3] == 0
        and abs(w[0, :3].mean()) < 1e-6
        and torch.allclose(w[0, :3].pow(2).mean(), torch.tensor(1.0), atol=1e-5)
    )


def test_policy_loss_clips_on_both_sides():
    adv = torch.tensor([[1.0, -1.0, 1.0, -1.0]])
    mask = torch.ones(1, 4, dtype=torch.bool)
    old = torch.zeros(1, 4)
    assert torch.allclose(policy_loss(old, old, adv, mask), torch.tensor(0.0)), "ratio 1: the loss is -mean(A)"
    logp = torch.tensor([[1.5, 1.5, 0.5, 0.5]]).log().requires_grad_(True)  # ratios 1.5, 1.5, 0.5, 0.5
    policy_loss(logp, old, adv, mask, clip_eps=0.2).backward()
    assert logp.grad[0, 0] == 0, "ratio 1.5 > 1 + eps with A > 0: clipped, no gradient"
    assert logp.grad[0, 3] == 0, "ratio 0.5 < 1 - eps with A < 0: clipped, no gradient"
    assert logp.grad[0, 1] != 0 and logp.grad[0, 2] != 0, "the pessimistic (unclipped) term keeps its gradient"


def test_value_loss():
    values, returns = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.0]])
    mask = torch.tensor([[True, False]])
    assert torch.allclose(value_loss(values, values, returns, mask), torch.tensor(0.5))
    old = torch.tensor([[0.5, 0.0]])  # clipped to 0.7: (0.7 - 0)^2 < (1 - 0)^2, the max keeps 1
    assert torch.allclose(value_loss(values, old, returns, mask, clip_eps=0.2), torch.tensor(0.5))


def test_train_ppo_raises_the_score():
    torch.manual_seed(0)
    policy, reference = TinyGPT(LMConfig()), TinyGPT(LMConfig())
    reference.load_state_dict(policy.state_dict())
    prompts = sample_prompts(1000, torch.Generator().manual_seed(0))
    history = train_ppo(policy, reference, ValueModel(LMConfig()), score, prompts, iterations=8, beta=0.5,
                        generator=torch.Generator().manual_seed(1))  # fmt: skip
    assert len(history) == 8 and set(history[0]) == {"score", "kl"}
    result = evaluate_policy(
        policy, reference, sample_prompts(500, torch.Generator().manual_seed(2)), torch.Generator().manual_seed(3)
    )
    assert result["score"] > 4.3, f"score {result['score']:.2f} of 6 (2.5 at the start)"
    assert result["kl"] < 3.0, f"KL to the reference {result['kl']:.2f} nats"
