"""Hidden checks for multi_head_attention.py, and training on its MultiHeadAttention."""

import torch
from torch import nn

from coursekit.grading import toy
from coursekit.grading.checks import expect_close, expect_pair, expect_tensor, fail

MHA = "multi_head_attention.MultiHeadAttention"
TOL = {torch.float64: dict(atol=1e-10, rtol=1e-8), torch.float32: dict(atol=1e-5, rtol=1e-4)}
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj")


def randn(gen, *shape, dtype=torch.float64):
    return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)


def random_state(gen, d, bias=True, dtype=torch.float64):
    """A state dict for the four projections, with biases large enough to matter."""
    state = {}
    for name in PROJECTIONS:
        state[f"{name}.weight"] = randn(gen, d, d, dtype=dtype) / d**0.5
        if bias:
            state[f"{name}.bias"] = randn(gen, d, dtype=dtype) * 0.5
    return state


def builtin_from_state(state, d, h, bias, dtype):
    """torch.nn.MultiheadAttention holding the same weights (its q, k, v in one in_proj)."""
    mha = nn.MultiheadAttention(d, h, bias=bias, batch_first=True, dtype=dtype)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([state[f"{p}.weight"] for p in PROJECTIONS[:3]]))
        mha.out_proj.weight.copy_(state["out_proj.weight"])
        if bias:
            mha.in_proj_bias.copy_(torch.cat([state[f"{p}.bias"] for p in PROJECTIONS[:3]]))
            mha.out_proj.bias.copy_(state["out_proj.bias"])
    return mha.eval()


def ref_mha(ref, state, d, h, bias):
    module = ref.multi_head_attention.MultiHeadAttention(d, h, bias=bias).double()
    module.load_state_dict(state)
    return module


def student_forward(student, d, h, state, query, key, value, mask=None, bias=True, dtype=torch.float64, **kw):
    answer = student.module(MHA, (d, h), {"bias": bias}, query, key, value, mask=mask, state_dict=state, dtype=dtype, **kw)
    out, w = expect_pair(answer["outputs"], "MultiHeadAttention.forward")
    return out, w, answer


def test_mha_structure(student, gen):
    for d, h, bias in [(16, 4, True), (12, 3, False), (8, 1, True)]:
        answer = student.module(MHA, (d, h), {"bias": bias}, call=False, describe=True)
        desc = answer["describe"]
        for name in PROJECTIONS:
            layer = desc["linear"].get(name)
            if layer is None:
                fail(f"MultiHeadAttention({d}, {h}) has no nn.Linear named {name}")
            if (layer["in"], layer["out"]) != (d, d):
                fail(f"{name} maps {layer['in']} -> {layer['out']} features, expected {d} -> {d}")
            if layer["bias"] != bias:
                fail(f"{name} {'has' if layer['bias'] else 'lacks'} a bias with bias={bias}")
        count = sum(torch.Size(s).numel() for s in desc["parameters"].values())
        expected = 4 * d * d + (4 * d if bias else 0)
        if count != expected:
            fail(f"MultiHeadAttention({d}, {h}, bias={bias}) has {count} parameters, expected {expected} (the four projections only)")
        for dtype in (torch.float32, torch.float64):
            B, Lq, Lk = 2, 5, 7
            query, memory = randn(gen, B, Lq, d, dtype=dtype), randn(gen, B, Lk, d, dtype=dtype)
            out, w, _ = student_forward(student, d, h, None, query, memory, memory, bias=bias, dtype=dtype)
            expect_tensor(out, "out", shape=(B, Lq, d), dtype=dtype)
            expect_tensor(w, "weights", shape=(B, h, Lq, Lk), dtype=dtype)


def test_mha_matches_builtin(student, gen):
    cases = [  # d, h, bias, B, Lq, Lk, mask kind, dtype
        (16, 4, True, 2, 6, 6, None, torch.float64),
        (16, 4, True, 3, 4, 9, "padding", torch.float64),
        (12, 3, False, 2, 7, 7, "causal", torch.float64),
        (32, 8, True, 2, 5, 8, "padding", torch.float32),
        (8, 1, True, 2, 3, 5, None, torch.float32),
    ]
    for d, h, bias, B, Lq, Lk, kind, dtype in cases:
        state = random_state(gen, d, bias, dtype)
        builtin = builtin_from_state(state, d, h, bias, dtype)
        query, key, value = randn(gen, B, Lq, d, dtype=dtype), randn(gen, B, Lk, d, dtype=dtype), randn(gen, B, Lk, d, dtype=dtype)
        if Lq == Lk and kind != "padding":
            key = value = query  # self-attention
        mask, kwargs = None, {}
        if kind == "padding":
            lengths = torch.randint(1, Lk + 1, (B,), generator=gen)
            pad = torch.arange(Lk) >= lengths[:, None]  # (B, Lk), True = padding (the built-in's convention)
            mask, kwargs = ~pad[:, None, None, :], {"key_padding_mask": pad}
        elif kind == "causal":
            future = torch.ones(Lq, Lk, dtype=torch.bool).triu(1)  # True = blocked (the built-in's convention)
            mask, kwargs = ~future, {"attn_mask": future}
        with torch.no_grad():
            exp_out, exp_w = builtin(query, key, value, need_weights=True, average_attn_weights=False, **kwargs)
        out, w, _ = student_forward(student, d, h, state, query, key, value, mask=mask, bias=bias, dtype=dtype)
        case = f"{str(dtype).replace('torch.', '')}, d_model={d}, heads={h}, bias={bias}, Lq={Lq}, Lk={Lk}, {kind or 'no'} mask"
        expect_close(w, exp_w, "weights", case=f"vs nn.MultiheadAttention, {case}", **TOL[dtype])
        expect_close(out, exp_out, "out", case=f"vs nn.MultiheadAttention, {case}", **TOL[dtype])


def test_mha_matches_reference(student, ref, gen):
    d, h, B, Lq, Lk = 24, 4, 2, 5, 7
    state = random_state(gen, d)
    module = ref_mha(ref, state, d, h, True)
    query, key, value = randn(gen, B, Lq, d), randn(gen, B, Lk, d), randn(gen, B, Lk, d)

    def keep_rows(mask):
        mask[..., 0] = True
        return mask

    masks = {
        "no": None,
        "(Lq, Lk)": keep_rows(torch.rand(Lq, Lk, generator=gen) < 0.5),
        "(B, 1, 1, Lk)": keep_rows(torch.rand(B, 1, 1, Lk, generator=gen) < 0.5),
        "(B, 1, Lq, Lk)": keep_rows(torch.rand(B, 1, Lq, Lk, generator=gen) < 0.5),
        "(B, H, Lq, Lk)": keep_rows(torch.rand(B, h, Lq, Lk, generator=gen) < 0.5),
    }
    for name, mask in masks.items():
        out, w, answer = student_forward(student, d, h, state, query, key, value, mask=mask, return_inputs=True)
        with torch.no_grad():
            exp_out, exp_w = module(query, key, value, mask=mask)
        expect_close(w, exp_w, "weights", case=f"{name} mask", **TOL[torch.float64])
        expect_close(out, exp_out, "out", case=f"{name} mask", **TOL[torch.float64])
        if answer.get("inputs_changed"):
            fail(f"forward modifies its input(s) in place: {', '.join(answer['inputs_changed'])}")


def test_mha_gradients(student, ref, gen):
    for d, h, bias, Lq, Lk, masked in [(16, 4, True, 5, 7, False), (12, 3, False, 6, 6, True)]:
        B = 2
        state = random_state(gen, d, bias)
        query, key, value = randn(gen, B, Lq, d), randn(gen, B, Lk, d), randn(gen, B, Lk, d)
        mask = torch.ones(Lq, Lk, dtype=torch.bool).tril() if masked else None
        g_out, g_w = randn(gen, B, Lq, d), randn(gen, B, h, Lq, Lk)
        answer = student.module(
            MHA, (d, h), {"bias": bias}, query, key, value, mask=mask, state_dict=state, dtype=torch.float64,
            grad_wrt=["args.0", "args.1", "args.2"], upstream=[g_out, g_w], param_grads=True,
        )  # fmt: skip
        expect_pair(answer["outputs"], "MultiHeadAttention.forward")
        module = ref_mha(ref, state, d, h, bias)
        leaves = [t.clone().requires_grad_(True) for t in (query, key, value)]
        out, w = module(*leaves, mask=mask)
        torch.autograd.backward([out, w], [g_out, g_w])
        case = f"d_model={d}, heads={h}, bias={bias}, Lq={Lq}, Lk={Lk}" + (", causal mask" if masked else "")
        for i, name in enumerate(("query", "key", "value")):
            got = answer["grads"].get(f"args.{i}")
            if got is None:
                fail(f"no gradient reaches the {name} input [{case}]")
            expect_close(got, leaves[i].grad, f"gradient with respect to {name}", atol=1e-9, rtol=1e-7, case=case)
        grads = answer.get("param_grads", {})
        for name, param in module.named_parameters():
            got = grads.get(name)
            if got is None:
                fail(f"no gradient reaches {name} [{case}]")
            expect_close(got, param.grad, f"gradient of {name}", atol=1e-9, rtol=1e-7, case=case)


def test_mha_masks(student, ref, gen):
    d, h, B, L = 16, 4, 2, 7
    state = random_state(gen, d)
    x = randn(gen, B, L, d)
    causal = torch.ones(L, L, dtype=torch.bool).tril()
    out, w, _ = student_forward(student, d, h, state, x, x, x, mask=causal)
    expect_tensor(w, "weights", shape=(B, h, L, L))
    if (w.triu(1) != 0).any():
        fail("with a causal mask, some attention weight falls on a future position")
    for t in (2, 5):
        x2 = x.clone()
        x2[:, t:] = randn(gen, B, L - t, d)  # change the future of position t - 1
        out2, _, _ = student_forward(student, d, h, state, x2, x2, x2, mask=causal)
        expect_close(out2[:, :t], out[:, :t], "outputs before a changed position", atol=1e-12, rtol=0, case="causal mask; changing later tokens must not change them")
    # Queries that may attend to nothing: zero weights, so out_proj sees zeros and gives its bias.
    mask = torch.ones(B, 1, L, L, dtype=torch.bool)
    mask[0, :, 2] = False
    mask[1, :, [0, 6]] = False
    out, w, _ = student_forward(student, d, h, state, x, x, x, mask=mask)
    expect_tensor(out, "out", shape=(B, L, d))
    dead = ~mask.expand(B, h, L, L).any(-1)
    if (w[dead] != 0).any():
        fail("weights of a query with no allowed key should all be 0")
    module = ref_mha(ref, state, d, h, True)
    with torch.no_grad():
        exp_out, _ = module(x, x, x, mask=mask)
    expect_close(out, exp_out, "out", case="rows with no allowed key", **TOL[torch.float64])


# --- training: a tiny transformer on the submission's MultiHeadAttention ---

HELD_OUT = 500
TARGET = 0.99


def trained_accuracy(student, ref, task):
    """Train with the submission's attention; judge the trained weights with the reference attention.

    The grader's own loop (coursekit.grading.toy) trains in the submission's
    process; only the trained weights come back. Evaluating them here, with
    the reference MultiHeadAttention, means the weights must solve the task
    under the attention the spec describes.
    """
    config = toy.ToyConfig(task=task)
    answer = student.train(MHA, config.to_dict())
    model = toy.ToyTransformer(ref.multi_head_attention.MultiHeadAttention, config)
    expected = model.state_dict()
    got = answer.get("state_dict")
    if not isinstance(got, dict) or set(got) != set(expected):
        extra = sorted(set(got or {}) - set(expected))[:3]
        fail(f"the trained model's parameters do not match the spec's MultiHeadAttention (unexpected: {extra})")
    for name, tensor in expected.items():
        expect_tensor(got[name], f"trained {name}", shape=tensor.shape, dtype=tensor.dtype)
    model.load_state_dict(got)
    held_out = toy.make_batch(config, HELD_OUT, torch.Generator().manual_seed(99991))
    accuracy = toy.greedy_accuracy(model, held_out)
    losses = answer.get("losses") or [float("nan")]
    if not accuracy >= TARGET:
        fail(
            f"after {config.steps} training steps, held-out token accuracy on {task} is {accuracy:.1%} "
            f"(needs {TARGET:.0%}; final training loss {losses[-1]:.3g})"
        )


def test_train_reversal(student, ref):
    trained_accuracy(student, ref, "reverse")


def test_train_copy(student, ref):
    trained_accuracy(student, ref, "copy")
