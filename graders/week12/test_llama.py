"""Hidden checks for llama.py: each part against the reference in float64, RoPE's and GQA's properties,
the whole model, its KV cache and generation.

Tolerances. Meta's code computes the RoPE angles in float32 and RMSNorm and the
softmax in float32 even for float64 inputs, so every check that involves them
allows errors of REL = 1e-5 relative to the largest expected value (float32
rounding stays below 1e-6 there; a real mistake is of order 1). Positions stay
below 100 wherever the exact value is compared, where float32 angles are still
good to 1e-6. Parts without RoPE or a norm (SwiGLU, repeat_kv) are compared to 1e-10.
"""

import math

import torch
from torch.nn import functional as F

from coursekit.grading import week12_toys as toys
from coursekit.grading.checks import expect_causal, expect_close, expect_state_dict, expect_tensor, fail
from coursekit.grading.week12_toys import config_obj, model_obj, random_llama, randomise, state

REL = 1e-5  # float32 rounding inside RoPE, RMSNorm or softmax is accepted
EXACT = 1e-10
TOY = "coursekit.grading.week12_toys.ToyLM"
GENERATOR = "coursekit.grading.week12_toys.seeded_generator"


def near(actual, expected, what, case="", rel=REL):
    """|actual - expected| <= rel * (max |expected| + |expected|), elementwise."""
    scale = expected.detach().abs().max().item() if expected.numel() else 0.0
    expect_close(actual, expected, what, atol=rel * max(scale, 1e-30), rtol=rel, case=case)


def randn(gen, *shape, scale=1.0):
    return scale * torch.randn(shape, generator=gen, dtype=torch.float64)


# ---------------------------------------------------------------- RMSNorm

RMS_CASES = [  # shape, eps (None: the default), scale of x, mean offset of x (in units of the scale)
    ((4, 8), None, 1e-3, 0.0),  # mean(x^2) ~ eps: the default eps shows
    ((2, 5, 16), 1e-6, 1.0, 2.0),  # a large mean: LayerNorm would subtract it
    ((3, 7), 0.1, 0.3, 1.0),
    ((2, 3, 4, 6), 1.0, 0.5, 0.0),  # eps dominates
    ((6, 32), 1e-6, 1e3, -1.0),
    ((5, 12), 1e-6, 2e-3, 0.5),
]


def test_rmsnorm(student, ref, gen):
    for i, (shape, eps, scale, offset) in enumerate(RMS_CASES):
        d = shape[-1]
        x = scale * (offset + randn(gen, *shape))
        weight = 1.0 + 0.3 * randn(gen, d)
        upstream = randn(gen, *shape)
        init = (d,) if eps is None else (d, eps)
        case = f"eps={'default' if eps is None else eps}, |x| ~ {scale:g}" + (", x with a mean" if offset else "")
        answer = student.module("llama.RMSNorm", init, None, call=False, return_state=True)
        got = expect_state_dict(answer.get("state_dict"), {"weight": torch.empty(d)}, "RMSNorm's state")
        if not torch.equal(got["weight"].cpu(), torch.ones(d)):
            fail("RMSNorm.weight should start at ones")
        norm = ref.llama.RMSNorm(*init).double()
        norm.weight.data.copy_(weight)
        xr = x.clone().requires_grad_(True)
        expected = norm(xr)
        (expected * upstream).sum().backward()
        answer = student.module("llama.RMSNorm", init, None, x, state_dict={"weight": weight}, dtype=torch.float64,
                                grad_wrt=["args.0"], upstream=[upstream], param_grads=True)  # fmt: skip
        out = expect_tensor(answer["outputs"], "RMSNorm's output", shape=shape, dtype=torch.float64)
        near(out, expected, "RMSNorm's output", case)
        grad_x = answer.get("grads", {}).get("args.0")
        if grad_x is None:
            fail(f"no gradient reaches RMSNorm's input [{case}]")
        near(grad_x, xr.grad, "the gradient of RMSNorm's input", case)
        grad_w = answer.get("param_grads", {}).get("weight")
        if grad_w is None:
            fail(f"no gradient reaches RMSNorm.weight [{case}]")
        near(grad_w, norm.weight.grad, "the gradient of RMSNorm.weight", case)


# ---------------------------------------------------------------- RoPE

ROPE_CASES = [  # (B, H, L, d_head), theta (None: the default), positions
    ((2, 3, 5, 8), None, torch.arange(5)),
    ((1, 2, 7, 16), 10000.0, torch.arange(3, 10)),
    ((2, 1, 4, 64), 500000.0, torch.tensor([17, 3, 95, 0])),
    ((1, 4, 6, 2), 100.0, torch.arange(6) * 7),
    ((3, 2, 1, 32), 10000.0, torch.tensor([61])),
    ((1, 1, 9, 12), 50.0, torch.arange(9).flip(0) + 20),
]


def rope(student, x, positions, theta, what="apply_rope"):
    args = (x, positions) if theta is None else (x, positions, theta)
    answer = student.call("llama.apply_rope", *args, return_inputs=True)
    if answer.get("inputs_changed"):
        fail("apply_rope changed its input x: return a new tensor")
    return expect_tensor(answer["outputs"], f"{what}'s output", shape=x.shape, dtype=x.dtype).cpu()


def test_rope_matches_reference(student, ref, gen):
    for shape, theta, positions in ROPE_CASES:
        x = randn(gen, *shape)
        expected = ref.llama.apply_rope(x, positions, 10000.0 if theta is None else theta)
        case = f"d_head={shape[-1]}, theta={'default' if theta is None else theta}, positions {positions.tolist()}"
        near(rope(student, x, positions, theta), expected, "apply_rope's output", case)
    x = torch.randn(2, 2, 5, 8, generator=gen)  # float32
    expected = ref.llama.apply_rope(x.double(), torch.arange(2, 7), 10000.0)
    near(rope(student, x, torch.arange(2, 7), 10000.0), expected, "apply_rope's output", "float32", rel=1e-5)


def test_rope_relative_position(student, gen):
    """q and k, the same vectors at every row: S[i, j] = rope(q)_i . rope(k)_j must depend on p_i - p_j only."""
    for H, L, d, theta, start in [(4, 12, 8, 10000.0, 0), (3, 10, 32, 10000.0, 37), (2, 9, 16, 50.0, 5)]:
        q, k = randn(gen, 1, H, 1, d), randn(gen, 1, H, 1, d)
        case = f"d_head={d}, theta={theta}"
        diagonals = []
        for offset in (start, start + 23):
            positions = torch.arange(offset, offset + L)
            rq = rope(student, q.expand(1, H, L, d).contiguous(), positions, theta)
            rk = rope(student, k.expand(1, H, L, d).contiguous(), positions, theta)
            S = rq[0] @ rk[0].transpose(-1, -2)  # (H, L, L): S[h, i, j] at offset i - j
            tol = 1e-5 * (q.norm(dim=-1) * k.norm(dim=-1)).max().item()
            for delta in range(-(L - 1), L):
                diag = S.diagonal(offset=-delta, dim1=-2, dim2=-1)  # entries with p_i - p_j = delta
                if (diag - diag[..., :1]).abs().max() > tol:
                    fail(f"q . k after RoPE differs between pairs of positions with the same offset {delta} [{case}]")
            diagonals.append(torch.stack([S.diagonal(-delta, -2, -1)[..., 0] for delta in range(-(L - 1), L)], -1))
        if (diagonals[0] - diagonals[1]).abs().max() > tol:
            fail(f"q . k after RoPE changes when both positions move by the same amount [{case}]")
        spread = (diagonals[0] - diagonals[0].mean(-1, keepdim=True)).abs().max().item()
        if spread < 1e-3 * (q.norm(dim=-1) * k.norm(dim=-1)).max().item():
            fail(f"q . k after RoPE does not change with the offset between the positions: RoPE has no effect [{case}]")


def test_rope_preserves_norm(student, gen):
    for shape, theta, positions in ROPE_CASES[:4]:
        x = randn(gen, *shape)
        out = rope(student, x, positions, theta)
        pairs_in = x.unflatten(-1, (-1, 2)).pow(2).sum(-1)  # (B, H, L, d/2): adjacent pairs (2i, 2i+1)
        pairs_out = out.unflatten(-1, (-1, 2)).pow(2).sum(-1)
        case = f"d_head={shape[-1]}"
        near(pairs_out, pairs_in, "the squared length of each adjacent pair (x[2i], x[2i+1]) after RoPE", case)
    x = randn(gen, 2, 2, 3, 16)
    out = rope(student, x, torch.zeros(3, dtype=torch.long), 10000.0)
    near(out, x, "apply_rope at position 0 (a rotation by 0)", "positions all 0")


# ---------------------------------------------------------------- SwiGLU and its hidden size


def test_swiglu(student, ref, gen):
    for d, hidden, shape in [(8, 20, (3, 5)), (12, 32, (7,)), (6, 6, (2, 2, 3))]:
        module = randomise(ref.llama.SwiGLU(d, hidden), gen)
        answer = student.module("llama.SwiGLU", (d, hidden), None, call=False, describe=True)
        got = answer["describe"]["parameters"]
        expected = {n: list(p.shape) for n, p in module.named_parameters()}
        if set(got) != set(expected):
            fail(f"SwiGLU's parameters are {sorted(got)}, expected {sorted(expected)} (bias-free w1, w2, w3)")
        for name, s in expected.items():
            if list(got[name]) != s:
                fail(f"SwiGLU.{name} has shape {tuple(got[name])}, expected {tuple(s)} (w1, w3: d_model -> "
                     f"d_hidden; w2: d_hidden -> d_model)")  # fmt: skip
        x = randn(gen, *shape, d)
        upstream = randn(gen, *shape, d)
        xr = x.clone().requires_grad_(True)
        expected_out = module(xr)
        (expected_out * upstream).sum().backward()
        answer = student.module("llama.SwiGLU", (d, hidden), None, x, state_dict=state(module), dtype=torch.float64,
                                grad_wrt=["args.0"], upstream=[upstream], param_grads=True)  # fmt: skip
        case = f"d_model={d}, d_hidden={hidden}"
        out = expect_tensor(answer["outputs"], "SwiGLU's output", shape=x.shape, dtype=torch.float64)
        near(out, expected_out, "SwiGLU's output, w2(silu(w1 x) * w3 x)", case, rel=EXACT)
        grad = answer.get("grads", {}).get("args.0")
        if grad is None:
            fail(f"no gradient reaches SwiGLU's input [{case}]")
        near(grad, xr.grad, "the gradient of SwiGLU's input", case, rel=EXACT)
        for name, p in module.named_parameters():
            g = answer.get("param_grads", {}).get(name)
            if g is None:
                fail(f"no gradient reaches SwiGLU.{name} [{case}]")
            near(g, p.grad, f"the gradient of SwiGLU.{name}", case, rel=EXACT)


HIDDEN_CASES = [  # (d_model, multiple_of or None for the default, multiplier), expected or None (the reference's)
    ((4096, None, None), 11008),  # LLaMA-7B
    ((5120, 256, None), 13824),  # LLaMA-13B
    ((6656, 256, None), 17920),  # LLaMA-33B
    ((8192, 256, None), 22016),  # LLaMA-65B
    ((8192, 4096, 1.3), 28672),  # LLaMA 2 70B
    ((4096, 1024, 1.3), 14336),  # Llama 3 8B
    ((32, 16, None), None),
    ((10, 1, None), None),
    ((48, 32, 1.5), None),
    ((24, 7, 0.8), None),
    ((96, 64, None), None),
]


def test_ffn_hidden_dim(student, ref):
    for (d, multiple_of, multiplier), expected in HIDDEN_CASES:
        args = (d,) if multiple_of is None else (d, multiple_of, multiplier)
        if expected is None:
            expected = ref.llama.ffn_hidden_dim(*args)
        got = student.call("llama.ffn_hidden_dim", *args)["outputs"]
        case = f"d_model={d}, multiple_of={multiple_of or 'default'}, ffn_dim_multiplier={multiplier}"
        if isinstance(got, bool) or not isinstance(got, int):
            fail(f"ffn_hidden_dim should return an int, got {type(got).__name__} [{case}]")
        if got != expected:
            fail(f"ffn_hidden_dim gives {got}, expected {expected} [{case}]")


# ---------------------------------------------------------------- grouped-query attention


def test_repeat_kv(student, gen):
    for shape, n_rep in [((2, 3, 4, 5), 2), ((1, 2, 3, 4), 3), ((2, 1, 5, 2), 4), ((1, 4, 2, 3), 1)]:
        x = randn(gen, *shape)
        answer = student.call("llama.repeat_kv", x, n_rep, return_inputs=True)
        B, n_kv, L, d = shape
        out = expect_tensor(answer["outputs"], "repeat_kv's output", shape=(B, n_kv * n_rep, L, d), dtype=x.dtype)
        if answer.get("inputs_changed"):
            fail("repeat_kv changed its input")
        expected = x.repeat_interleave(n_rep, dim=1)
        if not torch.equal(out.cpu(), expected):
            if n_rep > 1 and torch.equal(out.cpu(), x.repeat(1, n_rep, 1, 1)):
                fail(f"repeat_kv gives heads in the order (a, b, a, b): head h should be head h // n_rep, "
                     f"(a, a, b, b) [n_rep={n_rep}]")  # fmt: skip
            fail(f"head h of repeat_kv's output should be head h // n_rep of its input [n_rep={n_rep}]")


def attention(ref, gen, d, H, KV, theta=10000.0):
    return randomise(ref.llama.GroupedQueryAttention(d, H, KV, theta), gen)


def run_attention(student, module, d, H, KV, theta, steps):
    answer = student.module("llama.GroupedQueryAttention", (d, H, KV), {"rope_theta": theta}, state_dict=state(module),
                            dtype=torch.float64, steps=steps)  # fmt: skip
    return answer["steps"]


def attention_output(answer, shape, what="the attention's output"):
    return expect_tensor(answer["outputs"], what, shape=shape, dtype=torch.float64).cpu()


GQA_CASES = [  # d_model, n_heads, n_kv_heads, theta
    (16, 4, 2, 10000.0),
    (24, 6, 3, 500.0),
    (32, 8, 2, 10000.0),
    (12, 6, 2, 100.0),
]


def check_attention_cases(student, ref, gen, cases, what):
    for d, H, KV, theta in cases:
        module = attention(ref, gen, d, H, KV, theta)
        inputs = [(randn(gen, 3, 7, d), torch.arange(7)), (randn(gen, 2, 5, d), torch.arange(40, 45)),
                  (randn(gen, 2, 1, d), torch.tensor([9]))]  # fmt: skip
        answers = run_attention(student, module, d, H, KV, theta, [{"args": [x, p]} for x, p in inputs])
        case = f"d_model={d}, n_heads={H}, n_kv_heads={KV}, theta={theta}"
        for (x, p), answer in zip(inputs, answers):
            with torch.no_grad():
                expected = module(x, p)
            near(attention_output(answer, x.shape), expected, what, f"{case}, positions {p[0]}..{p[-1]}")


def test_gqa_matches_reference(student, ref, gen):
    check_attention_cases(student, ref, gen, GQA_CASES, "grouped-query attention's output")
    d, H, KV, theta = 16, 4, 2, 10000.0
    module = attention(ref, gen, d, H, KV, theta)
    x, upstream, p = randn(gen, 2, 6, d), randn(gen, 2, 6, d), torch.arange(3, 9)
    step = {"args": [x, p], "grad_wrt": ["args.0"], "upstream": [upstream], "param_grads": True}
    answer = run_attention(student, module, d, H, KV, theta, [step])[0]
    xr = x.clone().requires_grad_(True)
    (module(xr, p) * upstream).sum().backward()
    grad = answer.get("grads", {}).get("args.0")
    if grad is None:
        fail("no gradient reaches the attention's input")
    near(grad, xr.grad, "the gradient of the attention's input")
    for name, param in module.named_parameters():
        g = answer.get("param_grads", {}).get(name)
        if g is None:
            fail(f"no gradient reaches {name}")
        near(g, param.grad, f"the gradient of {name}")


def multi_head_attention(module, x, positions, apply_rope):
    """Plain multi-head causal attention with RoPE, one head at a time: what n_kv_heads == n_heads must give."""
    B, T, _ = x.shape
    H, dh = module.n_heads, module.d_head
    q = (x @ module.wq.weight.T).view(B, T, H, dh).transpose(1, 2)
    k = (x @ module.wk.weight.T).view(B, T, H, dh).transpose(1, 2)
    v = (x @ module.wv.weight.T).view(B, T, H, dh).transpose(1, 2)
    q, k = apply_rope(q, positions, module.rope_theta), apply_rope(k, positions, module.rope_theta)
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    heads = []
    for h in range(H):
        scores = (q[:, h] @ k[:, h].transpose(-1, -2)) / math.sqrt(dh)  # (B, T, T)
        heads.append(F.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1) @ v[:, h])
    return torch.cat(heads, dim=-1) @ module.wo.weight.T


def test_gqa_equals_mha(student, ref, gen):
    for d, H, theta in [(16, 4, 10000.0), (18, 3, 300.0), (8, 1, 10000.0)]:
        module = attention(ref, gen, d, H, H, theta)
        x, p = randn(gen, 2, 6, d), torch.arange(2, 8)
        out = attention_output(run_attention(student, module, d, H, H, theta, [{"args": [x, p]}])[0], x.shape)
        with torch.no_grad():
            expected = multi_head_attention(module, x, p, ref.llama.apply_rope)
        near(out, expected, "the attention with n_kv_heads == n_heads", f"multi-head attention, n_heads={H}")


def test_multi_query_attention(student, ref, gen):
    for d, H in [(16, 4), (32, 8), (10, 5)]:
        answer = student.module("llama.GroupedQueryAttention", (d, H, 1), None, call=False, describe=True)
        got = answer["describe"]["parameters"]
        for name in ("wk.weight", "wv.weight"):
            if list(got.get(name, [])) != [d // H, d]:
                fail(f"with n_kv_heads=1, {name} should have shape {(d // H, d)} (one head), got "
                     f"{tuple(got[name]) if name in got else 'none'}")  # fmt: skip
    check_attention_cases(
        student, ref, gen, [(16, 4, 1, 10000.0), (32, 8, 1, 1000.0)], "multi-query attention's output"
    )


def test_gqa_head_mapping(student, gen):
    """wq = 0 makes every query attend uniformly to the keys up to its own; wo = I lays the heads side by side:
    each query head's output is then the running mean of the values of the key/value head it reads."""
    for H, KV in [(4, 2), (6, 2), (6, 3), (8, 4)]:
        dh, T = 2, 5
        d = H * dh
        wv = randn(gen, KV * dh, d)
        weights = {"wq.weight": torch.zeros(H * dh, d), "wk.weight": randn(gen, KV * dh, d), "wv.weight": wv,
                   "wo.weight": torch.eye(d)}  # fmt: skip
        weights = {k: v.double() for k, v in weights.items()}
        x = randn(gen, 1, T, d)
        answer = student.module("llama.GroupedQueryAttention", (d, H, KV), None, x, torch.arange(T),
                                state_dict=weights, dtype=torch.float64)  # fmt: skip
        out = attention_output(answer, (1, T, d))[0].view(T, H, dh)  # (T, H, dh)
        v = (x[0] @ wv.T).view(T, KV, dh)  # (T, KV, dh)
        running_mean = v.cumsum(0) / torch.arange(1, T + 1, dtype=torch.float64)[:, None, None]  # (T, KV, dh)
        case = f"n_heads={H}, n_kv_heads={KV}"
        for h in range(H):
            read = [j for j in range(KV) if torch.allclose(out[:, h], running_mean[:, j], atol=1e-6, rtol=1e-6)]
            wanted = h // (H // KV)
            if read != [wanted]:
                which = f"reads key/value head {read[0]}" if read else "reads no single key/value head"
                fail(f"query head {h} {which}; it should read head h // (n_heads // n_kv_heads) = {wanted} [{case}]")


def test_attention_causal(student, ref, gen):
    for d, H, KV in [(16, 4, 2), (12, 3, 3)]:
        module = attention(ref, gen, d, H, KV)
        T = 8
        x = randn(gen, 2, T, d)
        cuts = [1, 4, T - 1]
        changed = []
        for t in cuts:
            other = x.clone()
            other[:, t:] = randn(gen, 2, T - t, d)
            changed.append(other)
        answers = run_attention(
            student, module, d, H, KV, 10000.0, [{"args": [z, torch.arange(T)]} for z in [x, *changed]]
        )
        base = attention_output(answers[0], x.shape)
        for t, answer in zip(cuts, answers[1:]):
            out = attention_output(answer, x.shape)
            scale = base.abs().max().item()
            expect_causal(out, base, t, "the attention's output", atol=1e-12 * scale, rtol=1e-12)


# ---------------------------------------------------------------- the model

CONFIGS = [
    dict(vocab_size=23, d_model=16, n_layers=2, n_heads=4, n_kv_heads=2, d_hidden=24),
    dict(vocab_size=17, d_model=24, n_layers=3, n_heads=6, multiple_of=16, rope_theta=100.0, norm_eps=1e-5),
    dict(vocab_size=19, d_model=12, n_layers=1, n_heads=3, n_kv_heads=1, d_hidden=20, norm_eps=0.5),
]


def config_case(fields):
    return (f"n_layers={fields['n_layers']}, n_heads={fields['n_heads']}, "
            f"n_kv_heads={fields.get('n_kv_heads') or fields['n_heads']}")  # fmt: skip


def run_model(student, fields, model, steps):
    answer = student.module("llama.Llama", (config_obj(student, fields),), None, state_dict=state(model),
                            dtype=torch.float64, steps=steps)  # fmt: skip
    return answer["steps"]


def logits_of(answer, shape, what="Llama's logits"):
    out = answer["outputs"]
    if isinstance(out, (tuple, list)):
        fail("Llama.forward should return the logits alone (a tensor), not a tuple")
    return expect_tensor(out, what, shape=shape, dtype=torch.float64).cpu()


def test_llama_structure(student, ref):
    for fields in CONFIGS[:2]:
        expected_model = ref.llama.Llama(ref.llama.LlamaConfig(**fields))
        answer = student.module("llama.Llama", (config_obj(student, fields),), None, call=False, describe=True,
                                return_state=True)  # fmt: skip
        got = answer["describe"]["parameters"]
        expected = {n: list(p.shape) for n, p in expected_model.named_parameters()}
        case = config_case(fields)
        if "output.weight" not in got and "tok_embeddings.weight" in got:
            fail(f"Llama has no parameter output.weight of its own: LLaMA's output layer is not tied [{case}]")
        missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
        if missing:
            fail(f"Llama has no parameter {missing[0]} (the names of Meta's code) [{case}]")
        if extra:
            fail(f"Llama has an unexpected parameter {extra[0]} (no Linear layer has a bias) [{case}]")
        for name, shape in expected.items():
            if list(got[name]) != shape:
                fail(f"Llama.{name} has shape {tuple(got[name])}, expected {tuple(shape)} [{case}]")
        sd = answer.get("state_dict") or {}
        extra = sorted(set(sd) - set(expected))
        if extra:
            fail(f"Llama's state dict holds {extra[0]}, which is not a parameter: keep tables out of it "
                 f"(persistent=False) [{case}]")  # fmt: skip
        if torch.equal(sd["output.weight"], sd["tok_embeddings.weight"]):
            fail(f"output.weight starts equal to tok_embeddings.weight: they should be separate [{case}]")


LLAMA2_70B = dict(vocab_size=32000, d_model=8192, n_layers=80, n_heads=64, n_kv_heads=8, multiple_of=4096,
                  ffn_dim_multiplier=1.3)  # fmt: skip
SIZES = [  # fields, parameters, name
    (dict(vocab_size=32000, d_model=4096, n_layers=32, n_heads=32), 6_738_415_616, "LLaMA-7B"),
    (dict(vocab_size=32000, d_model=5120, n_layers=40, n_heads=40), 13_015_864_320, "LLaMA-13B"),
    (LLAMA2_70B, 68_976_648_192, "LLaMA 2 70B"),
]


def test_llama_parameter_count(student, probe):
    for fields, expected, name in SIZES:
        got = probe("parameter_count", fields, files=["llama.py"])
        count = got.get("count") if isinstance(got, dict) else None
        if not isinstance(count, int) or count != expected:
            if not isinstance(count, int):
                fail(f"{name} could not be counted: parameter_count got {count!r}")
            hint = " (output.weight is not a parameter of its own: is it tied?)" if not got.get("has_output") else ""
            fail(f"{name} built from your Llama has {count:,} parameters, expected {expected:,}{hint}")


def test_llama_matches_reference(student, ref, gen):
    for fields in CONFIGS:
        model = random_llama(ref, gen, **fields)
        V = fields["vocab_size"]
        inputs = [torch.randint(V, shape, generator=gen) for shape in [(3, 12), (2, 5), (1, 1)]]
        answers = run_model(student, fields, model, [{"args": [t]} for t in inputs])
        for t, answer in zip(inputs, answers):
            with torch.no_grad():
                expected = model(t)
            near(logits_of(answer, (*t.shape, V)), expected, "Llama's logits", f"{config_case(fields)}, T={t.shape[1]}")


def test_llama_gradients(student, ref, gen):
    for fields in CONFIGS[:2]:
        model = random_llama(ref, gen, **fields)
        V = fields["vocab_size"]
        t = torch.randint(V, (2, 9), generator=gen)
        upstream = randn(gen, 2, 9, V)
        step = {"args": [t], "upstream": [upstream], "param_grads": True}
        got = run_model(student, fields, model, [step])[0].get("param_grads", {})
        model.zero_grad()
        (model(t) * upstream).sum().backward()
        case = config_case(fields)
        for name, p in model.named_parameters():
            if got.get(name) is None:
                fail(f"no gradient reaches {name} [{case}]")
            near(got[name], p.grad, f"the gradient of {name}", case)


KV_CASES = [  # config, batch size, sizes of the successive chunks fed through one cache
    (0, 3, [4, 1, 1, 3, 2, 1]),
    (1, 1, [1, 1, 5, 2]),
    (2, 2, [2, 3, 1, 4]),
    (0, 2, [7, 5]),
]


def test_kv_cache_forward(student, ref, probe, gen):
    for config, B, splits in KV_CASES:
        fields = CONFIGS[config]
        model = random_llama(ref, gen, **fields)
        V, T = fields["vocab_size"], sum(splits)
        tokens = torch.randint(V, (B, T), generator=gen)
        out = probe("cached_forward", model_obj(student, fields, state(model)), tokens, splits, files=["llama.py"])
        full = expect_tensor(out["full"], "logits without a cache", shape=(B, T, V), dtype=torch.float64).cpu()
        start = 0
        for i, (size, logits, length) in enumerate(zip(splits, out["chunks"], out["lengths"])):
            case = f"{size} new token{'s' if size > 1 else ''} after {start} cached, batch {B}, {config_case(fields)}"
            what = f"the logits with a KV cache (chunk {i + 1})"
            expect_tensor(logits, what, shape=(B, size, V), dtype=torch.float64)
            near(logits, full[:, start : start + size], what, f"vs one pass without a cache; {case}")
            start += size
            if length != start:
                fail(f"len(cache) is {length} after {start} positions went through it [{case}]")


# ---------------------------------------------------------------- generation

TOY_KW = dict(vocab_size=12, max_len=40, scale=1.5)


def toy(seed, device="cpu"):
    return toys.ToyLM(**TOY_KW, seed=seed).to(device)


def check_tokens(answer, tokens, n, what="generate"):
    out = expect_tensor(answer["outputs"], f"{what}'s output", shape=(tokens.shape[0], tokens.shape[1] + n),
                        dtype=torch.long).cpu()  # fmt: skip
    if answer.get("inputs_changed"):
        fail(f"{what} modifies the prompt tokens in place")
    if not torch.equal(out[:, : tokens.shape[1]], tokens):
        fail(f"{what}'s output should start with the prompt")
    return out


def student_generate(student, toy_seed, tokens, n, generator_seed=None, **kwargs):
    generator = None if generator_seed is None else student.obj(GENERATOR, generator_seed, student.device)
    answer = student.call("llama.generate", student.obj(TOY, **TOY_KW, seed=toy_seed), tokens, n, generator=generator,
                          return_inputs=True, **kwargs)  # fmt: skip
    return check_tokens(answer, tokens, n)


def reference_generate(ref, device, toy_seed, tokens, n, generator_seed=None, **kwargs):
    generator = None if generator_seed is None else torch.Generator(device=device).manual_seed(generator_seed)
    out = ref.llama.generate(
        toy(toy_seed, device), tokens.to(device), n, generator=generator, use_cache=False, **kwargs
    )
    return out.cpu()


def test_generate_greedy(student, ref, device, gen):
    V = TOY_KW["vocab_size"]
    for toy_seed, B, T, n in [(1, 4, 3, 5), (2, 1, 1, 9), (3, 3, 6, 9), (4, 2, 12, 3), (5, 2, 4, 0)]:
        tokens = torch.randint(V, (B, T), generator=gen)
        expected = reference_generate(ref, device, toy_seed, tokens, n, temperature=0)
        for use_cache in (True, False):
            got = student_generate(student, toy_seed, tokens, n, temperature=0, use_cache=use_cache)
            if not torch.equal(got, expected):
                fail(f"greedy tokens differ from the argmax of the model's logits [prompt of {T}, {n} new tokens, "
                     f"use_cache={use_cache}]")  # fmt: skip


def test_generate_matches_reference(student, ref, device, gen):
    V = TOY_KW["vocab_size"]
    for i, temperature in enumerate([1.0, 0.7, 1.6, 0.3]):
        B, T, n, seed = 3, 1 + i % 3, 10, 100 + i
        tokens = torch.randint(V, (B, T), generator=gen)
        expected = reference_generate(ref, device, 10 + i, tokens, n, generator_seed=seed, temperature=temperature)
        for use_cache in (True, False):
            got = student_generate(student, 10 + i, tokens, n, generator_seed=seed, temperature=temperature,
                                   use_cache=use_cache)  # fmt: skip
            if not torch.equal(got, expected):
                fail(f"the sampled tokens differ from the reference's for the same generator seed (one "
                     f"torch.multinomial per step on softmax(logits / temperature)) [temperature={temperature}, "
                     f"use_cache={use_cache}]")  # fmt: skip
    tokens = torch.randint(V, (4, 3), generator=gen)
    a = student_generate(student, 20, tokens, 12, generator_seed=5, temperature=1.0)
    b = student_generate(student, 20, tokens, 12, generator_seed=6, temperature=1.0)
    if torch.equal(a, b):
        fail("generators seeded differently gave the same tokens: draw every random number from `generator`")


CACHE_CASES = [  # config, batch, prompt length, new tokens, temperature
    (0, 3, 4, 8, 0),
    (0, 2, 1, 12, 1.0),
    (1, 4, 5, 6, 0.8),
    (1, 1, 9, 3, 0),
    (2, 2, 2, 10, 1.2),
    (2, 3, 3, 7, 0),
]


def test_kv_cache_generate(student, ref, gen):
    for i, (config, B, T, n, temperature) in enumerate(CACHE_CASES):
        fields = CONFIGS[config]
        weights = state(random_llama(ref, gen, **fields))
        tokens = torch.randint(fields["vocab_size"], (B, T), generator=gen)
        outs = []
        for use_cache in (True, False):
            answer = student.call("llama.generate", model_obj(student, fields, weights), tokens, n,
                                  temperature=temperature, generator=student.obj(GENERATOR, 60 + i, student.device),
                                  use_cache=use_cache, return_inputs=True)  # fmt: skip
            outs.append(check_tokens(answer, tokens, n))
        if not torch.equal(*outs):
            mode = "greedy" if temperature == 0 else "sampled with the same generator seed"
            fail(f"your Llama generates other tokens with the KV cache than without it [{mode}, batch {B}, "
                 f"prompt of {T}, {config_case(fields)}]")  # fmt: skip
