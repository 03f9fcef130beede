"""Hidden checks for gpt1.py: structure, equivalence with the reference in float64, causality, the loss."""

import torch
from torch.nn import functional as F

from coursekit.grading.checks import expect_causal, expect_close, expect_tensor, fail

TOL = dict(atol=1e-10, rtol=1e-8)
FIELDS = dict(vocab_size=23, block_size=12, n_layer=2, n_head=4, n_embd=16, dropout=0.1, layer_norm_eps=1e-5)
CLASSES = ["MLP", "Block", "GPT"]


def config(ref, **over):
    return ref.gpt1.GPTConfig(**{**FIELDS, **over})


def ref_module(ref, cls, gen, **over):
    """The reference `cls` in float64 with random weights (biases and LayerNorm gains that matter)."""
    module = getattr(ref.gpt1, cls)(config(ref, **over)).double().eval()
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.dim() == 1:
                base = 1.0 if ".ln_" in f".{name}" and name.endswith("weight") else 0.0
                p.copy_(base + 0.3 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
            elif name.startswith(("wte", "wpe")):
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
            else:
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) / p.shape[1] ** 0.5)
    return module


def state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def run(student, cls, module, steps, **over):
    """Build the submission's `cls` with `module`'s weights in float64 and run `steps` on it."""
    cfg = student.obj("gpt1.GPTConfig", **{**FIELDS, **over})
    answer = student.module(f"gpt1.{cls}", (cfg,), None, state_dict=state(module), dtype=torch.float64, steps=steps)
    return answer["steps"]


def forward(student, cls, module, *args, over=None):
    return run(student, cls, module, [{"mode": "eval", "args": list(args)}], **(over or {}))[0]["outputs"]


def tokens(gen, B, T, V=FIELDS["vocab_size"]):
    return torch.randint(V, (B, T), generator=gen)


def test_gpt_structure(student, ref):
    for cls in CLASSES:
        cfg = student.obj("gpt1.GPTConfig", **FIELDS)
        answer = student.module(f"gpt1.{cls}", (cfg,), None, call=False, describe=True)
        got = answer["describe"]["parameters"]
        expected = {n: list(p.shape) for n, p in getattr(ref.gpt1, cls)(config(ref)).named_parameters()}
        missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
        if missing:
            fail(f"{cls} has no parameter {missing[0]} (the names the spec fixes)")
        if extra:
            fail(f"{cls} has an unexpected parameter {extra[0]}")
        for name, shape in expected.items():
            if list(got[name]) != shape:
                fail(f"{cls}.{name} has shape {tuple(got[name])}, expected {tuple(shape)}")


def test_gpt_weights_tied(student, ref, gen):
    module = ref_module(ref, "GPT", gen)
    cfg = student.obj("gpt1.GPTConfig", **FIELDS)
    params = student.module("gpt1.GPT", (cfg,), None, call=False, describe=True)["describe"]["parameters"]
    count = sum(torch.Size(s).numel() for s in params.values())
    expected = sum(p.numel() for p in module.parameters())
    if count != expected:
        fail(f"GPT has {count} parameters, expected {expected} (the embedding matrix counted once)")
    new = torch.randn(FIELDS["vocab_size"], FIELDS["n_embd"], generator=gen, dtype=torch.float64)
    steps = [
        {"method": "load_state_dict", "args": [{"wte.weight": new}], "kwargs": {"strict": False}, "return_state": True}
    ]
    got = run(student, "GPT", module, steps)[0].get("state_dict", {})
    head = got.get("lm_head.weight")
    if head is None:
        fail("GPT has no lm_head.weight")
    if not torch.equal(head, new):
        fail("after loading new token embeddings, lm_head.weight kept its old values: it should BE wte.weight (tied)")


def test_block_matches_reference(student, ref, gen):
    d = FIELDS["n_embd"]
    for cls in ("MLP", "Block"):
        module = ref_module(ref, cls, gen)
        for B, T in ((3, 7), (2, 1), (1, 12)):
            x = torch.randn(B, T, d, generator=gen, dtype=torch.float64)
            out = forward(student, cls, module, x)
            expect_tensor(out, f"{cls} output", shape=(B, T, d), dtype=torch.float64)
            with torch.no_grad():
                expect_close(out, module(x), f"{cls} output", case=f"B={B}, T={T}", **TOL)


def test_gpt_matches_reference(student, ref, gen):
    for over in ({}, {"n_layer": 3, "n_head": 2}, {"n_layer": 1, "n_head": 1, "block_size": 5}):
        module = ref_module(ref, "GPT", gen, **over)
        block_size = {**FIELDS, **over}["block_size"]
        for T in sorted({block_size, 4, 1}):
            idx = tokens(gen, 3, T)
            out = forward(student, "GPT", module, idx, over=over)
            expect_tensor(out, "GPT logits", shape=(3, T, FIELDS["vocab_size"]), dtype=torch.float64)
            with torch.no_grad():
                expected = module(idx)
            layers = {**FIELDS, **over}["n_layer"]
            expect_close(out, expected, "GPT logits", case=f"{layers} layers, T={T}, block_size={block_size}", **TOL)


def test_gpt_gradients(student, ref, gen):
    module = ref_module(ref, "GPT", gen)
    idx = tokens(gen, 3, 9)
    upstream = torch.randn(3, 9, FIELDS["vocab_size"], generator=gen, dtype=torch.float64)
    step = {"mode": "eval", "args": [idx], "upstream": [upstream], "param_grads": True}
    got = run(student, "GPT", module, [step])[0].get("param_grads", {})
    module.zero_grad()
    torch.autograd.backward(module(idx), upstream)
    for name, p in module.named_parameters():
        if got.get(name) is None:
            fail(f"no gradient reaches GPT.{name}")
        expect_close(got[name], p.grad, f"gradient of GPT.{name}", **TOL)


def test_gpt_causal(student, ref, gen):
    """Change every token from position p on: logits at positions < p must not move."""
    module = ref_module(ref, "GPT", gen)
    V, block_size = FIELDS["vocab_size"], FIELDS["block_size"]
    for T in (2, 7, block_size):
        idx = tokens(gen, 4, T)
        cuts = sorted({1, T - 1, int(torch.randint(1, T, (1,), generator=gen))})
        variants = []
        for p in cuts:
            other = idx.clone()
            shift = torch.randint(1, V, (4, T - p), generator=gen)  # every later token differs
            other[:, p:] = (idx[:, p:] + shift) % V
            variants.append(other)
        steps = [{"mode": "eval", "args": [x]} for x in (idx, *variants)]
        base, *outs = (s["outputs"] for s in run(student, "GPT", module, steps))
        expect_tensor(base, "GPT logits", shape=(4, T, V))
        for p, out in zip(cuts, outs):
            expect_tensor(out, "GPT logits", shape=(4, T, V))
            expect_causal(out, base, p, "GPT logits", atol=1e-12, rtol=0, case=f"T={T}")


def test_lm_loss(student, gen):
    B, T, V = 3, 5, 11
    logits = torch.randn(B, T, V, generator=gen, dtype=torch.float64) * 3
    targets = torch.randint(V, (B, T), generator=gen)
    upstream = torch.tensor(1.3, dtype=torch.float64)
    answer = student.call("gpt1.lm_loss", logits, targets, grad_wrt=["args.0"], upstream=[upstream])
    loss = expect_tensor(answer["outputs"], "lm_loss", shape=(), dtype=torch.float64)
    leaf = logits.clone().requires_grad_(True)
    expected = F.cross_entropy(leaf.view(-1, V), targets.view(-1))
    expect_close(loss, expected.detach(), "lm_loss", atol=1e-10, rtol=1e-8, case="the mean over all B * T positions")
    (expected * upstream).backward()
    grad = answer.get("grads", {}).get("args.0")
    if grad is None:
        fail("no gradient reaches the logits")
    expect_close(grad, leaf.grad, "gradient of lm_loss with respect to the logits", atol=1e-10, rtol=1e-8)
