"""Hidden checks for quantize.py (the bonus part): absmax int8, blockwise NF4 and QLoRALinear, on reconstruction error.

Rounding ties are not judged: a value must land on a level that is as
close as any (within 1e-6 of its scale), which the nearest level always is.
"""

import math

import torch
from torch.nn import functional as F

from coursekit.grading.checks import expect_close, expect_pair, expect_state_dict, expect_tensor, fail
from coursekit.grading.week11_toys import NF4_LEVELS

F32 = torch.float32


# ---------------------------------------------------------------- int8


def int8_inputs(gen):
    outlier = torch.randn(4, 16, generator=gen)
    outlier[1, 3] = 60.0  # one outlier: it sets its own row's scale only
    outlier[2] = 0.0  # a row of zeros
    negative = -torch.rand(3, 9, generator=gen) - 0.5  # max(W) is not max|W|
    return [
        torch.randn(6, 33, generator=gen),
        outlier,
        negative,
        torch.randn(2, 3, 10, generator=gen) * 4,
        torch.randn(17, generator=gen) * 1e-3,
    ]


def test_quantize_int8(student, gen):
    for W in int8_inputs(gen):
        case = f"W of shape {tuple(W.shape)}"
        q, scale = expect_pair(student.call("quantize.quantize_int8", W)["outputs"], "quantize_int8")
        q = expect_tensor(q, "quantize_int8's q", shape=W.shape, dtype=torch.int8)
        scale = expect_tensor(scale, "quantize_int8's scale", shape=(*W.shape[:-1], 1))
        if not scale.is_floating_point():
            fail(f"quantize_int8's scale should be a float tensor, got {scale.dtype}")
        absmax = W.abs().amax(-1, keepdim=True)
        nonzero = (absmax > 0).expand_as(W)
        expect_close(scale[absmax > 0], (absmax / 127)[absmax > 0], "the scale (max|w| of the row / 127)", atol=0, rtol=1e-6, case=case)  # fmt: skip
        if (q.abs() > 127).any():
            fail(f"quantize_int8's q should lie in [-127, 127], got {int(q.min())} [{case}]")
        if (q[~nonzero] != 0).any():
            fail(f"a row of zeros should quantise to q = 0 [{case}]")
        ratio = W.double() / (absmax.double() / 127).clamp_min(1e-30)
        off = (q.double() - ratio).abs()[nonzero]
        if off.numel() and off.max() > 0.5 + 1e-4:
            fail(f"q should be round(w / scale): a value is {off.max().item():.2f} scale away from its code [{case}]")
        # dequantize on the grader's own codes
        exact_scale = absmax / 127
        exact_q = torch.round(W / exact_scale.clamp_min(1e-30)).to(torch.int8)
        deq = student.call("quantize.dequantize_int8", exact_q, exact_scale)["outputs"]
        deq = expect_tensor(deq, "dequantize_int8", shape=W.shape, dtype=F32)
        expect_close(deq, exact_q.float() * exact_scale, "dequantize_int8 (q * scale)", atol=0, rtol=1e-6, case=case)
        error = (deq.double() - W.double()).abs()
        if (error > exact_scale.double() / 2 * (1 + 1e-5) + 1e-12).any():
            fail(f"a value is off by more than scale / 2 after quantize and dequantize [{case}]")


# ---------------------------------------------------------------- NF4


def nf4_inputs(gen):
    zero_block = torch.randn(4, 32, generator=gen)
    zero_block[1] = 0.0  # block 1 (of 32) is all zeros
    outlier = torch.randn(8, 64, generator=gen) * 0.02
    outlier[3, 5] = 1.5
    return [
        (torch.randn(8, 64, generator=gen), 64),
        (torch.randn(5, 30, generator=gen) * 0.05, 64),  # 150 values: a short last block of 22
        (torch.randn(3, 7, 4, generator=gen), 16),  # 84 values: a last block of 4
        (zero_block, 32),
        (outlier, 64),
        (torch.randn(200, generator=gen), 128),
        (torch.randn(6, 16, generator=gen), None),  # the default block size, 64
    ]


def nf4_absmax(W, block_size):
    w = W.flatten()
    n_blocks = math.ceil(w.numel() / block_size)
    return torch.stack([w[i * block_size : (i + 1) * block_size].abs().max() for i in range(n_blocks)])


def expect_nearest(codes, absmax, W, block_size, what, case):
    """Each value's code is a nearest NF4 level to w / c (ties accepted), c its block's absmax."""
    w = W.flatten().double()
    c = absmax.double().repeat_interleave(block_size)[: w.numel()]
    levels = NF4_LEVELS.double()
    error = (w - levels[codes.long()] * c).abs()
    best = (w[:, None] - levels[None] * c[:, None]).abs().min(dim=1).values
    worse = error > best + 1e-6 * c + 1e-12
    if worse.any():
        i = int(worse.nonzero()[0])
        fail(
            f"{what}: value {i} (w / c = {w[i] / c[i]:.4f}) got level {levels[codes[i].long()]:.4f}, "
            f"not the nearest NF4 level [{case}]"
        )


def test_quantize_nf4(student, gen):
    for W, block_size in nf4_inputs(gen):
        bs = block_size or 64
        kwargs = {"block_size": block_size} if block_size else {}
        case = f"W of shape {tuple(W.shape)}, block_size {bs}"
        answer = student.call("quantize.quantize_nf4", W, **kwargs)["outputs"]
        codes, absmax = expect_pair(answer, "quantize_nf4")
        codes = expect_tensor(codes, "quantize_nf4's codes", shape=(W.numel(),), dtype=torch.uint8)
        n_blocks = math.ceil(W.numel() / bs)
        absmax = expect_tensor(absmax, "quantize_nf4's absmax", shape=(n_blocks,), dtype=F32)
        if (codes > 15).any():
            fail(f"NF4 codes should lie in 0..15, got {int(codes.max())} [{case}]")
        expected_absmax = nf4_absmax(W, bs)
        expect_close(absmax, expected_absmax, "the absmax of each block", atol=0, rtol=1e-6, case=case)
        expect_nearest(codes, expected_absmax, W, bs, "quantize_nf4", case)
        # dequantize the grader's own codes
        normed = W.flatten() / expected_absmax.clamp_min(1e-30).repeat_interleave(bs)[: W.numel()]
        exact = (normed[:, None] - NF4_LEVELS[None]).abs().argmin(dim=1).to(torch.uint8)
        deq = student.call("quantize.dequantize_nf4", exact, expected_absmax, tuple(W.shape), **kwargs)["outputs"]
        deq = expect_tensor(deq, "dequantize_nf4", shape=W.shape, dtype=F32)
        expected = (NF4_LEVELS[exact.long()] * expected_absmax.repeat_interleave(bs)[: W.numel()]).view(W.shape)
        expect_close(deq, expected, "dequantize_nf4 (NF4_LEVELS[code] * absmax)", atol=1e-7, rtol=1e-6, case=case)


# ---------------------------------------------------------------- QLoRALinear


def nf4_weight(W, block_size):
    """The grader's NF4 reconstruction of W (nearest levels)."""
    absmax = nf4_absmax(W, block_size)
    c = absmax.repeat_interleave(block_size)[: W.numel()]
    codes = (W.flatten()[:, None] / c.clamp_min(1e-30)[:, None] - NF4_LEVELS[None]).abs().argmin(dim=1)
    return (NF4_LEVELS[codes] * c).view(W.shape)


QLORA_CASES = [(48, 10, 4, 8.0, True, 64), (16, 24, 2, 2.0, False, 32), (7, 5, 3, 12.0, True, None)]


def test_qlora_linear(student, gen):
    for d_in, d_out, r, alpha, bias, block_size in QLORA_CASES:
        bs = block_size or 64
        case = f"in={d_in}, out={d_out}, r={r}, bias={bias}, block_size={bs}"
        W = torch.randn(d_out, d_in, generator=gen) * 0.1
        b = torch.randn(d_out, generator=gen) if bias else None
        base_state = {"weight": W} if b is None else {"weight": W, "bias": b}
        base = student.obj("torch.nn.Linear", d_in, d_out, bias=bias, state_dict=base_state)
        kwargs = {"block_size": block_size} if block_size else {}
        x = torch.randn(5, d_in, generator=gen)
        A = torch.randn(r, d_in, generator=gen)
        B = torch.randn(d_out, r, generator=gen)
        upstream = torch.randn(5, d_out, generator=gen)
        steps = [
            {"no_call": True, "return_state": True},
            {"mode": "eval", "args": [x]},
            {"method": "load_state_dict", "args": [{"lora_A": A, "lora_B": B}], "kwargs": {"strict": False}},
            {"mode": "eval", "args": [x], "grad_wrt": ["args.0"], "upstream": [upstream], "param_grads": True},
        ]
        answer = student.module("quantize.QLoRALinear", (base, r, alpha), kwargs, steps=steps, describe=True)
        params = sorted(answer["describe"]["parameters"])
        if not {"lora_A", "lora_B"} <= set(params) <= {"lora_A", "lora_B", "bias"}:  # a frozen bias may be a parameter
            fail(f"QLoRALinear's only parameters should be lora_A and lora_B (the base is frozen in buffers), got {params} [{case}]")  # fmt: skip
        s = answer["steps"]
        if s[3].get("param_grads", {}).get("bias") is not None:
            fail(f"QLoRALinear's bias gets a gradient: the base layer, bias included, should be frozen [{case}]")
        n_blocks = math.ceil(d_in * d_out / bs)
        expected = {
            "weight_codes": torch.zeros(d_in * d_out, dtype=torch.uint8),
            "weight_absmax": torch.zeros(n_blocks),
            "lora_A": torch.zeros(r, d_in),
            "lora_B": torch.zeros(d_out, r),
        }
        if bias:
            expected["bias"] = torch.zeros(d_out)
        state = expect_state_dict(s[0]["state_dict"], expected, "QLoRALinear (no full-precision copy of the weight)")
        expect_close(
            state["weight_absmax"], nf4_absmax(W, bs), "QLoRALinear.weight_absmax", atol=0, rtol=1e-6, case=case
        )
        expect_nearest(state["weight_codes"], nf4_absmax(W, bs), W, bs, "QLoRALinear.weight_codes", case)
        if bias and not torch.equal(state["bias"], b):
            fail(f"QLoRALinear.bias should be the base layer's bias [{case}]")
        if (state["lora_B"] != 0).any() or (state["lora_A"] == 0).all():
            fail(f"QLoRALinear should start with lora_B = 0 and a random lora_A [{case}]")
        W_nf4 = nf4_weight(W, bs)
        out = expect_tensor(s[1]["outputs"], "QLoRALinear output", shape=(5, d_out), dtype=F32)
        expect_close(out, F.linear(x, W_nf4, b), "QLoRALinear's output at initialisation (the NF4 base alone)", atol=1e-5, rtol=1e-5, case=case)  # fmt: skip
        leaves = [t.clone().requires_grad_(True) for t in (x, A, B)]
        expected_out = F.linear(leaves[0], W_nf4, b) + leaves[0] @ leaves[1].T @ leaves[2].T * (alpha / r)
        (expected_out * upstream).sum().backward()
        out = expect_tensor(s[3]["outputs"], "QLoRALinear output", shape=(5, d_out), dtype=F32)
        expect_close(out, expected_out.detach(), "QLoRALinear's output (x W_nf4^T + b + x A^T B^T alpha/r)", atol=1e-5, rtol=1e-5, case=case)  # fmt: skip
        grads = s[3].get("param_grads", {})
        for name, leaf in zip(("lora_A", "lora_B"), leaves[1:]):
            if grads.get(name) is None:
                fail(f"QLoRALinear.{name} got no gradient [{case}]")
            expect_close(grads[name], leaf.grad, f"the gradient of QLoRALinear.{name}", atol=1e-4, rtol=1e-4, case=case)
        grad_x = s[3].get("grads", {}).get("args.0")
        if grad_x is None:
            fail(f"no gradient reaches QLoRALinear's input [{case}]")
        expect_close(grad_x, leaves[0].grad, "the gradient with respect to QLoRALinear's input", atol=1e-4, rtol=1e-4, case=case)  # fmt: skip
