"""Hidden checks for gpt.py: the model against the reference in float64, its initialisation, and the KV cache."""

import math

import torch

from coursekit.grading.checks import expect_causal, expect_close, expect_state_dict, expect_tensor, fail
from coursekit.grading.week6_toys import config_obj, model_obj, random_gpt, state

TOL = dict(atol=1e-10, rtol=1e-8)
CONFIGS = [
    dict(vocab_size=23, block_size=12, n_layer=2, n_head=4, n_embd=16, dropout=0.0, bias=True),
    dict(vocab_size=17, block_size=9, n_layer=3, n_head=1, n_embd=8, dropout=0.0, bias=False),
    dict(vocab_size=19, block_size=10, n_layer=1, n_head=2, n_embd=12, dropout=0.1, bias=True),  # eval: no dropout
]
WTE, HEAD = "transformer.wte.weight", "lm_head.weight"


def run(student, fields, model, steps):
    answer = student.module("gpt.GPT", (config_obj(student, fields),), None, state_dict=state(model),
                            dtype=torch.float64, steps=steps)  # fmt: skip
    return answer["steps"]


def logits_and_loss(outputs, shape):
    if not isinstance(outputs, (tuple, list)) or len(outputs) != 2:
        fail("GPT.forward should return a pair (logits, loss)")
    logits, loss = outputs
    expect_tensor(logits, "GPT logits", shape=shape, dtype=torch.float64)
    return logits, loss


def test_gpt_structure(student, ref):
    for fields in CONFIGS[:2]:
        answer = student.module("gpt.GPT", (config_obj(student, fields),), None, call=False, describe=True)
        got = answer["describe"]["parameters"]
        expected = {n: list(p.shape) for n, p in ref.gpt.GPT(ref.gpt.GPTConfig(**fields)).named_parameters()}
        case = f"bias={fields['bias']}"
        missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
        if missing:
            fail(f"GPT has no parameter {missing[0]} (the names the spec fixes) [{case}]")
        if extra:
            fail(f"GPT has an unexpected parameter {extra[0]} [{case}]")
        for name, shape in expected.items():
            if list(got[name]) != shape:
                fail(f"GPT.{name} has shape {tuple(got[name])}, expected {tuple(shape)} [{case}]")


def test_gpt_forward_matches_reference(student, ref, gen):
    for fields in CONFIGS:
        model = random_gpt(ref, gen, **fields)
        V, block = fields["vocab_size"], fields["block_size"]
        inputs = [torch.randint(V, shape, generator=gen) for shape in [(3, block), (2, block - 4), (1, 1)]]
        targets = [torch.randint(V, x.shape, generator=gen) for x in inputs]
        steps = [{"mode": "eval", "args": [x, y]} for x, y in zip(inputs, targets)]
        steps.append({"mode": "eval", "args": [inputs[1]]})
        answers = run(student, fields, model, steps)
        case = f"n_layer={fields['n_layer']}, n_head={fields['n_head']}, bias={fields['bias']}"
        for x, y, answer in zip(inputs, targets, answers):
            logits, loss = logits_and_loss(answer["outputs"], (*x.shape, V))
            with torch.no_grad():
                exp_logits, exp_loss = model(x, y)
            expect_close(logits, exp_logits, "GPT logits", case=f"{case}, T={x.shape[1]}", **TOL)
            expect_tensor(loss, "the loss", shape=(), dtype=torch.float64)
            expect_close(loss, exp_loss, "the loss (mean cross-entropy over all positions)", case=case, **TOL)
        _, loss = logits_and_loss(answers[-1]["outputs"], (*inputs[1].shape, V))
        if loss is not None:
            fail("GPT.forward without targets should return loss None")


def test_gpt_gradients(student, ref, gen):
    for fields in CONFIGS[:2]:
        model = random_gpt(ref, gen, **fields)
        V, block = fields["vocab_size"], fields["block_size"]
        x, y = torch.randint(V, (2, block), generator=gen), torch.randint(V, (2, block), generator=gen)
        upstream = [torch.randn(2, block, V, generator=gen, dtype=torch.float64)]
        upstream.append(torch.tensor(1.7, dtype=torch.float64))  # for the loss
        step = {"mode": "eval", "args": [x, y], "upstream": upstream, "param_grads": True}
        got = run(student, fields, model, [step])[0].get("param_grads", {})
        model.zero_grad()
        logits, loss = model(x, y)
        torch.autograd.backward([logits, loss], upstream)
        case = f"n_layer={fields['n_layer']}, bias={fields['bias']}"
        for name, p in model.named_parameters():
            if got.get(name) is None:
                fail(f"no gradient reaches {name} [{case}]")
            expect_close(got[name], p.grad, f"the gradient of {name}", case=case, **TOL)


def test_gpt_causal(student, ref, gen):
    fields = CONFIGS[0]
    model = random_gpt(ref, gen, **fields)
    V, block = fields["vocab_size"], fields["block_size"]
    x = torch.randint(V, (3, block), generator=gen)
    cuts = [1, block // 2, block - 1]
    changed = []
    for t in cuts:
        other = x.clone()
        other[:, t:] = (x[:, t:] + 1 + torch.randint(V - 1, x[:, t:].shape, generator=gen)) % V
        changed.append(other)
    answers = run(student, fields, model, [{"mode": "eval", "args": [z]} for z in [x, *changed]])
    base, _ = logits_and_loss(answers[0]["outputs"], (3, block, V))
    for t, answer in zip(cuts, answers[1:]):
        logits, _ = logits_and_loss(answer["outputs"], (3, block, V))
        expect_causal(logits, base, t, "the logits", atol=1e-12, rtol=1e-10)


def test_gpt_weight_tying(student, ref, gen):
    fields = CONFIGS[0]
    model = random_gpt(ref, gen, **fields)
    answer = student.module("gpt.GPT", (config_obj(student, fields),), None, call=False, describe=True)
    params = answer["describe"]["parameters"]
    if HEAD in params:
        fail("lm_head.weight is a parameter of its own: it should BE transformer.wte.weight (tied)")
    count = sum(torch.Size(s).numel() for s in params.values())
    expected = sum(p.numel() for p in model.parameters())
    if count != expected:
        fail(f"GPT has {count} parameters, expected {expected} (the embedding matrix counted once)")
    new = torch.randn(fields["vocab_size"], fields["n_embd"], generator=gen, dtype=torch.float64)
    steps = [{"method": "load_state_dict", "args": [{WTE: new}], "kwargs": {"strict": False}, "return_state": True}]
    got = run(student, fields, model, steps)[0].get("state_dict", {})
    if got.get(HEAD) is None:
        fail("GPT's state dict has no lm_head.weight")
    if not torch.equal(got[HEAD], new):
        fail("after loading new token embeddings, lm_head.weight kept its old values: it should BE "
             "transformer.wte.weight")  # fmt: skip


INIT = dict(vocab_size=512, block_size=64, n_head=4, n_embd=256, dropout=0.0)
STD = 0.02


def init_std(name, n_layer):
    """The std a weight matrix of the initial model is drawn with (mean 0)."""
    if name.endswith("c_proj.weight"):
        return STD / math.sqrt(2 * n_layer)
    return STD


def test_gpt_init_statistics(student, ref):
    for n_layer, bias, seed in [(1, True, 3), (3, False, 4)]:
        fields = dict(INIT, n_layer=n_layer, bias=bias)
        case = f"n_layer={n_layer}, n_embd={INIT['n_embd']}"
        cfg = config_obj(student, fields)
        answer = student.module("gpt.GPT", (cfg,), None, call=False, return_state=True, seed=seed)
        with torch.device("meta"):
            expected = ref.gpt.GPT(ref.gpt.GPTConfig(**fields)).state_dict()
        expected = {k: torch.empty(v.shape, dtype=v.dtype) for k, v in expected.items()}
        got = expect_state_dict(answer.get("state_dict"), expected, "GPT's initial state")
        got = {k: v.double().cpu() for k, v in got.items()}
        if not torch.equal(got[HEAD], got[WTE]):
            fail(f"lm_head.weight differs from transformer.wte.weight at initialisation: they should be tied [{case}]")
        for name, w in got.items():
            if name.endswith("bias"):
                if (w != 0).any():
                    fail(f"{name} should start at zero [{case}]")
            elif w.dim() == 1:
                if (w != 1).any():
                    fail(f"the LayerNorm gain {name} should start at one [{case}]")
            else:
                target = init_std(name, n_layer)
                n = w.numel()
                std, mean = w.std().item(), w.mean().item()
                kurtosis = (((w - mean) / std) ** 4).mean().item() - 3.0
                why = "0.02 / sqrt(2·n_layer) for the residual projections c_proj" if "c_proj" in name else "0.02"
                if abs(std / target - 1) > 0.03:
                    fail(f"{name} starts with std {std:.5f}, expected {target:.5f} ({why}) [{case}]")
                if abs(mean) > 6 * target / n**0.5:
                    fail(f"{name} starts with mean {mean:.2e}, expected 0 [{case}]")
                if abs(kurtosis) > 0.3:
                    fail(f"{name} does not look normally distributed (excess kurtosis {kurtosis:.2f}) [{case}]")


KV_CASES = [  # config, batch size, sizes of the successive chunks fed through one cache
    (0, 3, [4, 1, 1, 3, 2, 1]),
    (1, 1, [1, 1, 5, 2]),
    (2, 2, [2, 3, 1, 4]),
    (0, 2, [7, 5]),
]


def test_kv_cache_forward(student, ref, probe, gen):
    for config, B, splits in KV_CASES:
        fields = CONFIGS[config]
        model = random_gpt(ref, gen, **fields)
        V, T = fields["vocab_size"], sum(splits)
        idx = torch.randint(V, (B, T), generator=gen)
        out = probe(student, "cached_forward", model_obj(student, fields, state(model)), idx, splits, files=["gpt.py"])
        full = expect_tensor(out["full"], "logits without a cache", shape=(B, T, V), dtype=torch.float64)
        start = 0
        for i, (size, logits, length) in enumerate(zip(splits, out["chunks"], out["lengths"])):
            case = f"{size} new token{'s' if size > 1 else ''} after {start} cached, batch {B}"
            what = f"the logits with a KV cache (chunk {i + 1})"
            expect_tensor(logits, what, shape=(B, size, V), dtype=torch.float64)
            expected = full[:, start : start + size]
            expect_close(logits, expected, what, case=f"vs one pass without a cache; {case}", **TOL)
            start += size
            if length != start:
                fail(f"len(cache) is {length} after {start} positions went through it [{case}]")
