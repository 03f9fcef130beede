"""Visible tests for dpo.py: run `pytest test_dpo.py` (the last one trains for a few seconds)."""

import math

import torch
from dpo import dpo_loss, sequence_logprobs, train_dpo
from toy import LMConfig, TinyGPT, evaluate_policy, sample_preferences, sample_prompts


def test_sequence_logprobs_sums_the_masked_tokens():
    logits = torch.zeros(2, 3, 4)  # uniform: every token has log-probability log(1/4)
    labels = torch.tensor([[0, 1, 2], [3, 3, 3]])
    mask = torch.tensor([[True, True, False], [False, False, False]])
    assert torch.allclose(sequence_logprobs(logits, labels, mask), torch.tensor([2 * math.log(0.25), 0.0]))
    logits = torch.randn(1, 2, 4)
    expected = logits.log_softmax(-1)[0, 1, 2]
    assert torch.allclose(sequence_logprobs(logits, torch.tensor([[0, 2]]), torch.tensor([[0, 1]])), expected[None])


def test_dpo_loss_at_the_reference_is_log_2():
    logps = torch.randn(5)
    loss, chosen, rejected = dpo_loss(logps, logps - 1, logps, logps - 1, beta=0.1)
    assert torch.allclose(loss, torch.tensor(math.log(2.0)))
    assert torch.allclose(chosen, torch.zeros(5)) and torch.allclose(rejected, torch.zeros(5))


def test_dpo_loss_beta_and_rewards():
    pc, pr, rc, rr = torch.tensor([-3.0]), torch.tensor([-6.0]), torch.tensor([-4.0]), torch.tensor([-5.0])
    loss, chosen, rejected = dpo_loss(pc, pr, rc, rr, beta=0.5)
    # log-ratios: chosen +1, rejected -1; beta * (1 - (-1)) = 1
    assert torch.allclose(loss, -torch.nn.functional.logsigmoid(torch.tensor(1.0)))
    assert torch.allclose(chosen, torch.tensor([0.5])) and torch.allclose(rejected, torch.tensor([-0.5]))
    big, _, _ = dpo_loss(
        torch.tensor([-2000.0]), torch.tensor([-10.0]), torch.tensor([-10.0]), torch.tensor([-10.0]), 1.0
    )
    assert torch.isfinite(big), "use F.logsigmoid"


def test_train_dpo_raises_the_score():
    torch.manual_seed(0)
    policy, reference = TinyGPT(LMConfig()), TinyGPT(LMConfig())
    reference.load_state_dict(policy.state_dict())
    data = sample_preferences(2000, torch.Generator().manual_seed(0))
    losses = train_dpo(policy, reference, data["chosen"], data["rejected"], data["chosen_mask"], data["rejected_mask"],
                       beta=0.1, steps=40, generator=torch.Generator().manual_seed(1))  # fmt: skip
    assert len(losses) == 40 and abs(losses[0] - math.log(2)) < 1e-5 and losses[-1] < losses[0]
    result = evaluate_policy(
        policy, reference, sample_prompts(500, torch.Generator().manual_seed(2)), torch.Generator().manual_seed(3)
    )
    assert result["score"] > 4.0, f"score {result['score']:.2f} of 6 (2.5 at the start)"
    assert result["kl"] < 4.0, f"KL to the reference {result['kl']:.2f} nats"
