"""Visible tests for training.py: run `pytest test_training.py`."""

import torch
from gpt import GPT, GPTConfig
from torch.nn import functional as F
from training import DynamicLossScaler, accumulated_gradients, adamw, fit

CONFIG = GPTConfig(vocab_size=17, block_size=8, n_layer=2, n_head=2, n_embd=8)


def batch(rows, T=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(17, (rows, T), generator=g), torch.randint(17, (rows, T), generator=g)


def test_accumulation_equals_the_full_batch():
    torch.manual_seed(0)
    model = GPT(CONFIG).double()
    micro = [batch(3, seed=1), batch(1, seed=2), batch(2, T=5, seed=3)]  # unequal sizes and lengths
    # the gradient of the mean loss over every token of every micro-batch, in one backward pass
    total = sum(F.cross_entropy(model(idx)[0].flatten(0, 1), t.flatten(), reduction="sum") for idx, t in micro)
    (total / sum(t.numel() for _, t in micro)).backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters()}
    _, grads = accumulated_gradients(model, micro)
    for name, g in expected.items():
        torch.testing.assert_close(grads[name], g, msg=name)


def test_accumulation_clears_old_gradients():
    torch.manual_seed(0)
    model = GPT(CONFIG).double()
    micro = [batch(2, seed=1), batch(2, seed=2)]
    _, first = accumulated_gradients(model, micro)
    _, second = accumulated_gradients(model, micro)  # .grad still holds the first result
    for name in first:
        torch.testing.assert_close(second[name], first[name], msg=name)


def test_scaler_halves_on_overflow_and_grows_after_the_interval():
    scaler = DynamicLossScaler(init_scale=1024.0, growth_interval=3)
    for found_inf, scale in [(False, 1024), (False, 1024), (False, 2048), (True, 1024), (False, 1024), (False, 1024)]:
        scaler.update(found_inf)
        assert scaler.scale == scale, (found_inf, scaler.state_dict())


def test_unscale_finds_inf_and_nan():
    p, q = torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2))
    p.grad = torch.tensor([8.0, -16.0, 32.0])
    scaler = DynamicLossScaler(init_scale=8.0)
    assert scaler.unscale_([p, q]) is False  # q has no gradient: skipped
    torch.testing.assert_close(p.grad, torch.tensor([1.0, -2.0, 4.0]))
    p.grad = torch.tensor([1.0, float("nan"), 0.0])
    assert scaler.unscale_([p]) is True


def test_bf16_step_is_close_to_the_fp32_step():
    micro = [batch(2, seed=1), batch(2, seed=2)]
    torch.manual_seed(0)
    exact = GPT(CONFIG)
    mixed = GPT(CONFIG)
    mixed.load_state_dict(exact.state_dict())
    start = {n: p.detach().clone() for n, p in exact.named_parameters()}
    sgd = lambda params: torch.optim.SGD(params, lr=1.0)
    fit(exact, [micro], make_optimizer=sgd)
    fit(mixed, [micro], make_optimizer=sgd, scaler=DynamicLossScaler(init_scale=2.0**10), amp_dtype="bfloat16")
    for n, p in mixed.named_parameters():
        assert p.dtype == torch.float32, f"{n} is {p.dtype}: the master weights stay float32"
    moved = torch.cat([(p.detach() - start[n]).flatten() for n, p in mixed.named_parameters()])
    exact_moved = torch.cat([(p.detach() - start[n]).flatten() for n, p in exact.named_parameters()])
    error = ((moved - exact_moved).norm() / exact_moved.norm()).item()
    assert error < 0.05, f"the bf16 update is {error:.3f} (relative) away from the fp32 update"


def test_an_overflow_skips_the_step():
    torch.manual_seed(0)
    model = GPT(CONFIG)
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    scaler = DynamicLossScaler(init_scale=2.0**200)  # the scaled loss overflows float32
    _, history = fit(model, [[batch(2)]], make_optimizer=adamw(), scaler=scaler)
    assert history[0]["skipped"] and scaler.scale == 2.0**199
    for n, p in model.named_parameters():
        assert torch.equal(p.detach(), start[n]), f"{n} changed on a skipped step"
