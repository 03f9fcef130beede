"""Visible tests for batch_norm.py: run `pytest test_batch_norm.py`."""

import torch
from batch_norm import BatchNorm1d


def test_batch_norm_state():
    bn = BatchNorm1d(5)
    state = bn.state_dict()
    assert sorted(state) == ["bias", "running_mean", "running_var", "weight"], f"state dict keys: {sorted(state)}"
    assert sorted(n for n, _ in bn.named_parameters()) == ["bias", "weight"], "only weight and bias are parameters"
    assert torch.equal(state["running_mean"], torch.zeros(5)) and torch.equal(state["running_var"], torch.ones(5))


def test_batch_norm_training_standardizes_each_channel():
    bn = BatchNorm1d(3)
    x = torch.randn(64, 3) * torch.tensor([1.0, 10.0, 0.1]) + torch.tensor([5.0, -2.0, 0.0])  # (N, C)
    y = bn(x)
    torch.testing.assert_close(y.mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    var = x.var(0, unbiased=False)
    # var / (var + eps): just under 1, visibly so for the channel of scale 0.1
    torch.testing.assert_close(y.var(0, unbiased=False), var / (var + 1e-5), atol=1e-4, rtol=0)


def test_batch_norm_running_statistics_by_hand():
    bn = BatchNorm1d(1, momentum=0.1)
    x = torch.tensor([[1.0], [2.0], [3.0], [6.0]])  # mean 3, biased var 3.5, unbiased var 14/3
    bn(x)
    torch.testing.assert_close(bn.running_mean, torch.tensor([0.9 * 0.0 + 0.1 * 3.0]))
    torch.testing.assert_close(bn.running_var, torch.tensor([0.9 * 1.0 + 0.1 * 14.0 / 3.0]))


def test_batch_norm_eval_uses_running_statistics():
    bn = BatchNorm1d(2)
    with torch.no_grad():
        bn.running_mean.copy_(torch.tensor([1.0, -1.0]))
        bn.running_var.copy_(torch.tensor([4.0, 0.25]))
    bn.eval()
    x = torch.tensor([[3.0, 0.0]])  # a batch of one is fine in eval mode
    expected = (x - torch.tensor([1.0, -1.0])) / torch.sqrt(torch.tensor([4.0, 0.25]) + 1e-5)
    torch.testing.assert_close(bn(x), expected)
    torch.testing.assert_close(bn.running_mean, torch.tensor([1.0, -1.0]))  # unchanged in eval mode


def test_batch_norm_sequences_match_torch():
    bn, builtin = BatchNorm1d(4), torch.nn.BatchNorm1d(4)
    x = torch.randn(8, 4, 6)  # (N, C, L): statistics over N and L
    torch.testing.assert_close(bn(x), builtin(x))
    torch.testing.assert_close(bn.running_var, builtin.running_var)
