"""Hidden checks for palm.py: multi-query attention, the parallel block, the model, its KV cache and generation.

Equivalence checks load random float64 weights into the submission's modules
and compare with the reference (tolerance 1e-10 + 1e-8·|expected|). The
multi-query attention is also compared with the grader's own multi-head
attention whose key and value heads are all one head; the cache checks hand
the submission's model the grader's KVCache and measure what it stores.
"""

import torch

from coursekit.grading.bonus_palm_toys import config_obj, mha, model_obj, random_state, state
from coursekit.grading.checks import expect_causal, expect_close, expect_state_dict, expect_tensor, fail

TOL = dict(atol=1e-10, rtol=1e-8)
CONFIGS = [
    dict(vocab_size=23, n_layer=2, n_head=4, n_embd=16),
    dict(vocab_size=17, n_layer=3, n_head=1, n_embd=8),
    dict(vocab_size=19, n_layer=1, n_head=2, n_embd=12, rope_base=100.0),
    dict(vocab_size=29, n_layer=2, n_head=8, n_embd=32),
]
WTE, HEAD = "transformer.wte.weight", "lm_head.weight"


def describe(fields):
    return f"n_head={fields['n_head']}, n_embd={fields['n_embd']}"


def reference(ref, cls, fields, gen):
    """The reference palm.<cls>(config) with random float64 weights."""
    return random_state(getattr(ref.palm, cls)(ref.palm.PaLMConfig(**fields)), gen)


def run(student, cls, fields, module, *args, **kwargs):
    """The submission's palm.<cls>(config) holding module's weights, in float64, called on args."""
    return student.module(f"palm.{cls}", (config_obj(student, fields),), None, *args, state_dict=state(module),
                          dtype=torch.float64, **kwargs)  # fmt: skip


def logits_of(outputs, shape):
    if not isinstance(outputs, (tuple, list)) or len(outputs) != 2:
        fail("PaLM.forward should return a pair (logits, loss)")
    return expect_tensor(outputs[0], "PaLM logits", shape=shape, dtype=torch.float64), outputs[1]


# --- structure ---


def test_palm_structure(student, ref):
    for fields in CONFIGS[:2]:
        answer = student.module("palm.PaLM", (config_obj(student, fields),), None, call=False, describe=True)
        got = answer["describe"]["parameters"]
        expected = {n: list(p.shape) for n, p in ref.palm.PaLM(ref.palm.PaLMConfig(**fields)).named_parameters()}
        case = describe(fields)
        if HEAD in got:
            fail("lm_head.weight is a parameter of its own: it should BE transformer.wte.weight (tied)")
        extra = sorted(set(got) - set(expected))
        biases = [n for n in extra if n.endswith("bias")]
        if biases:
            fail(f"PaLM has no biases, but {biases[0]} is a parameter [{case}]")
        if extra:
            fail(f"PaLM has an unexpected parameter {extra[0]} (one LayerNorm `ln` per block) [{case}]")
        missing = sorted(set(expected) - set(got))
        if missing:
            fail(f"PaLM has no parameter {missing[0]} (the names the spec fixes) [{case}]")
        for name, shape in expected.items():
            if list(got[name]) != shape:
                fail(f"PaLM.{name} has shape {tuple(got[name])}, expected {tuple(shape)} [{case}]")


# --- SwiGLU ---


def test_swiglu_matches_reference(student, ref, gen):
    for fields in CONFIGS[:3]:
        mlp = reference(ref, "SwiGLU", fields, gen)
        for shape in [(3, 5), (2, 4, 6)]:
            x = torch.randn(*shape[:-1], fields["n_embd"], generator=gen, dtype=torch.float64) * 2
            out = run(student, "SwiGLU", fields, mlp, x)["outputs"]
            expect_tensor(out, "SwiGLU output", shape=x.shape, dtype=torch.float64)
            with torch.no_grad():
                expected = mlp(x)
            expect_close(out, expected, "SwiGLU output", case=f"{describe(fields)}, input {tuple(x.shape)}", **TOL)


# --- multi-query attention ---


def test_mqa_matches_reference(student, ref, gen):
    for fields in CONFIGS:
        attn = reference(ref, "MultiQueryAttention", fields, gen)
        for B, T in [(2, 7), (1, 1), (3, 12)]:
            x = torch.randn(B, T, fields["n_embd"], generator=gen, dtype=torch.float64)
            out = run(student, "MultiQueryAttention", fields, attn, x)["outputs"]
            expect_tensor(out, "MultiQueryAttention output", shape=x.shape, dtype=torch.float64)
            with torch.no_grad():
                expected = attn(x)
            case = f"{describe(fields)}, rope_base={fields.get('rope_base', 10000.0):g}, T={T}"
            expect_close(out, expected, "MultiQueryAttention output", case=case, **TOL)


def test_mqa_shared_kv(student, ref, gen):
    for fields in [CONFIGS[0], CONFIGS[2], CONFIGS[3]]:
        d, nh = fields["n_embd"], fields["n_head"]
        hs = d // nh
        answer = student.module("palm.MultiQueryAttention", (config_obj(student, fields),), None, call=False,
                                describe=True)  # fmt: skip
        params = answer["describe"]["parameters"]
        for name in ("k_proj.weight", "v_proj.weight"):
            if list(params.get(name, [])) != [hs, d]:
                got = tuple(params[name]) if name in params else "missing"
                fail(f"{name} should be ONE head, ({hs}, {d}), got {got} [{describe(fields)}]")
        attn = reference(ref, "MultiQueryAttention", fields, gen)
        w = {n: p.detach() for n, p in attn.named_parameters()}
        x = torch.randn(2, 9, d, generator=gen, dtype=torch.float64)
        out = run(student, "MultiQueryAttention", fields, attn, x)["outputs"]
        out = expect_tensor(out, "MultiQueryAttention output", shape=x.shape, dtype=torch.float64)
        repeat = (nh, 1)  # the one key (value) head, n_head times: multi-head attention with identical K/V heads
        expected = mha(x, w["q_proj.weight"], w["k_proj.weight"].repeat(*repeat), w["v_proj.weight"].repeat(*repeat),
                       w["o_proj.weight"], nh, fields.get("rope_base", 10000.0))  # fmt: skip
        expect_close(
            out,
            expected,
            "MultiQueryAttention output",
            **TOL,
            case=f"vs multi-head attention whose {nh} key and value heads are the one head; {describe(fields)}",
        )


def test_mqa_causal(student, ref, gen):
    fields = CONFIGS[0]
    attn = reference(ref, "MultiQueryAttention", fields, gen)
    T = 10
    x = torch.randn(3, T, fields["n_embd"], generator=gen, dtype=torch.float64)
    cuts = [1, T // 2, T - 1]
    inputs = [x]
    for t in cuts:
        other = x.clone()
        other[:, t:] = torch.randn(3, T - t, fields["n_embd"], generator=gen, dtype=torch.float64)
        inputs.append(other)
    steps = [{"mode": "eval", "args": [z]} for z in inputs]
    answers = run(student, "MultiQueryAttention", fields, attn, steps=steps)["steps"]
    outs = [expect_tensor(a["outputs"], "MultiQueryAttention output", shape=x.shape) for a in answers]
    for t, out in zip(cuts, outs[1:]):
        expect_causal(out, outs[0], t, "the attention output", atol=1e-12, rtol=1e-10)


# --- the parallel block ---


def test_parallel_block_formulation(student, ref, gen, probe):
    for fields in [CONFIGS[0], CONFIGS[2]]:
        block = reference(ref, "ParallelBlock", fields, gen)
        x = torch.randn(2, 6, fields["n_embd"], generator=gen, dtype=torch.float64)
        parts = probe(student, "block_parts", model_obj(student, fields, state(block), "ParallelBlock"), x)
        out = expect_tensor(parts["out"], "ParallelBlock output", shape=x.shape, dtype=torch.float64)
        x_attn, mlp, serial_mlp = (expect_tensor(parts[k], k, shape=x.shape) for k in ("x_attn", "mlp", "serial_mlp"))
        case = describe(fields)
        if torch.allclose(out, x_attn + serial_mlp, atol=1e-9, rtol=1e-7):
            fail(f"the block is serial: its MLP reads LayerNorm(x + attn(ln(x))), not ln(x) [{case}]")
        expect_close(out, x_attn + mlp, "ParallelBlock output", case=f"vs x + attn(ln(x)) + mlp(ln(x)), with "
                     f"the block's own ln, attn and mlp; {case}", **TOL)  # fmt: skip


def test_parallel_block_matches_reference(student, ref, gen):
    for fields in CONFIGS[:3]:
        block = reference(ref, "ParallelBlock", fields, gen)
        x = torch.randn(2, 8, fields["n_embd"], generator=gen, dtype=torch.float64)
        out = run(student, "ParallelBlock", fields, block, x)["outputs"]
        expect_tensor(out, "ParallelBlock output", shape=x.shape, dtype=torch.float64)
        with torch.no_grad():
            expected = block(x)
        expect_close(out, expected, "ParallelBlock output", case=describe(fields), **TOL)


# --- the model ---


def test_palm_matches_reference(student, ref, gen):
    for fields in CONFIGS:
        model = reference(ref, "PaLM", fields, gen)
        V = fields["vocab_size"]
        inputs = [torch.randint(V, shape, generator=gen) for shape in [(3, 11), (2, 5), (1, 1)]]
        targets = [torch.randint(V, x.shape, generator=gen) for x in inputs]
        targets[0][0, :4] = -100
        steps = [{"mode": "eval", "args": [x, y]} for x, y in zip(inputs, targets)]
        steps.append({"mode": "eval", "args": [inputs[1]]})
        answers = run(student, "PaLM", fields, model, steps=steps)["steps"]
        case = f"n_layer={fields['n_layer']}, {describe(fields)}"
        for x, y, answer in zip(inputs, targets, answers):
            logits, loss = logits_of(answer["outputs"], (*x.shape, V))
            with torch.no_grad():
                exp_logits, exp_loss = model(x, y)
            expect_close(logits, exp_logits, "PaLM logits", case=f"{case}, T={x.shape[1]}", **TOL)
            expect_tensor(loss, "the loss", shape=(), dtype=torch.float64)
            expect_close(loss, exp_loss, "the loss (mean cross-entropy, -100 left out)", case=case, **TOL)
        _, loss = logits_of(answers[-1]["outputs"], (*inputs[1].shape, V))
        if loss is not None:
            fail("PaLM.forward without targets should return loss None")


def test_palm_gradients(student, ref, gen):
    for fields in CONFIGS[:3]:
        model = reference(ref, "PaLM", fields, gen)
        V = fields["vocab_size"]
        x, y = torch.randint(V, (2, 9), generator=gen), torch.randint(V, (2, 9), generator=gen)
        upstream = [torch.randn(2, 9, V, generator=gen, dtype=torch.float64), torch.tensor(1.3, dtype=torch.float64)]
        step = {"mode": "eval", "args": [x, y], "upstream": upstream, "param_grads": True}
        got = run(student, "PaLM", fields, model, steps=[step])["steps"][0].get("param_grads", {})
        model.zero_grad()
        logits, loss = model(x, y)
        ((logits * upstream[0]).sum() + loss * upstream[1]).backward()
        case = f"n_layer={fields['n_layer']}, {describe(fields)}"
        for name, p in model.named_parameters():
            if got.get(name) is None:
                fail(f"no gradient reaches {name} [{case}]")
            expect_close(got[name], p.grad, f"the gradient of {name}", case=case, **TOL)


def test_palm_causal(student, ref, gen):
    fields = CONFIGS[0]
    model = reference(ref, "PaLM", fields, gen)
    V, T = fields["vocab_size"], 12
    x = torch.randint(V, (3, T), generator=gen)
    cuts = [1, T // 2, T - 1]
    inputs = [x]
    for t in cuts:
        other = x.clone()
        other[:, t:] = (x[:, t:] + 1 + torch.randint(V - 1, x[:, t:].shape, generator=gen)) % V
        inputs.append(other)
    answers = run(student, "PaLM", fields, model, steps=[{"mode": "eval", "args": [z]} for z in inputs])["steps"]
    base, _ = logits_of(answers[0]["outputs"], (3, T, V))
    for t, answer in zip(cuts, answers[1:]):
        logits, _ = logits_of(answer["outputs"], (3, T, V))
        expect_causal(logits, base, t, "the logits", atol=1e-12, rtol=1e-10)


INIT = dict(vocab_size=512, n_layer=2, n_head=4, n_embd=128)


def test_palm_init_statistics(student, ref):
    for seed in (3, 4):
        answer = student.module("palm.PaLM", (config_obj(student, INIT),), None, call=False, return_state=True,
                                seed=seed)  # fmt: skip
        with torch.device("meta"):
            expected = ref.palm.PaLM(ref.palm.PaLMConfig(**INIT)).state_dict()
        expected = {k: torch.empty(v.shape, dtype=v.dtype) for k, v in expected.items()}
        got = expect_state_dict(answer.get("state_dict"), expected, "PaLM's initial state")
        got = {k: v.double().cpu() for k, v in got.items()}
        if not torch.equal(got[HEAD], got[WTE]):
            fail("lm_head.weight differs from transformer.wte.weight at initialisation: they should be tied")
        for name, w in got.items():
            if w.dim() == 1:
                if (w != 1).any():
                    fail(f"the LayerNorm gain {name} should start at one")
                continue
            if name == HEAD:
                continue
            target, why = (1.0, "N(0, 1) for the embedding") if name == WTE else (
                w.shape[1] ** -0.5, f"1/sqrt(fan_in) = 1/sqrt({w.shape[1]})")  # fmt: skip
            std, mean = w.std().item(), w.mean().item()
            kurtosis = (((w - mean) / std) ** 4).mean().item() - 3.0
            if abs(std / target - 1) > 0.05:
                fail(f"{name} starts with std {std:.4f}, expected {target:.4f} ({why})")
            if abs(mean) > 6 * target / w.numel() ** 0.5:
                fail(f"{name} starts with mean {mean:.2e}, expected 0")
            if abs(kurtosis) > 0.3:
                fail(f"{name} does not look normally distributed (excess kurtosis {kurtosis:.2f})")


# --- the KV cache and generation ---

KV_CASES = [  # config, batch size, sizes of the successive chunks fed through one cache
    (0, 3, [4, 1, 1, 3, 2, 1]),
    (1, 1, [1, 1, 5, 2]),
    (2, 2, [2, 3, 1, 4]),
    (3, 2, [7, 5]),
]


def test_kv_cache_forward(student, ref, gen, probe):
    for config, B, splits in KV_CASES:
        fields = CONFIGS[config]
        model = reference(ref, "PaLM", fields, gen)
        V, T = fields["vocab_size"], sum(splits)
        idx = torch.randint(V, (B, T), generator=gen)
        out = probe(student, "cached_forward", model_obj(student, fields, state(model)), idx, splits)
        full = expect_tensor(out["full"], "logits without a cache", shape=(B, T, V), dtype=torch.float64)
        start = 0
        for i, (size, logits, lengths) in enumerate(zip(splits, out["chunks"], out["lengths"])):
            case = f"{size} new token{'s' if size > 1 else ''} after {start} cached, {describe(fields)}"
            what = f"the logits with a KV cache (chunk {i + 1})"
            expect_tensor(logits, what, shape=(B, size, V), dtype=torch.float64)
            expect_close(
                logits, full[:, start : start + size], what, case=f"vs one pass without a cache; {case}", **TOL
            )
            start += size
            if lengths != [start] * fields["n_layer"]:
                fail(f"after {start} positions the cache holds {lengths} positions per layer, expected {start} "
                     f"in each of the {fields['n_layer']} layers")  # fmt: skip


def test_kv_cache_size(student, ref, gen, probe):
    for config in (0, 3):
        fields = CONFIGS[config]
        model = reference(ref, "PaLM", fields, gen)
        B, splits = 2, [5, 1, 1]
        idx = torch.randint(fields["vocab_size"], (B, sum(splits)), generator=gen)
        out = probe(student, "cached_forward", model_obj(student, fields, state(model)), idx, splits)
        d_head, n_head, n_layer = fields["n_embd"] // fields["n_head"], fields["n_head"], fields["n_layer"]
        start = 0
        for size, numel in zip(splits, out["numel"]):
            start += size
            per_token = numel / (B * start * n_layer)
            if per_token != 2 * d_head:
                times = per_token / (2 * d_head)
                fail(f"the cache holds {per_token:g} numbers per token per layer, expected 2 * d_head = "
                     f"{2 * d_head} (one key and one value head): {times:g} times too many; multi-head "
                     f"attention would hold {2 * d_head * n_head} [{describe(fields)}]")  # fmt: skip
        shapes = out["shapes"]
        if any(s != [B, 1, start, d_head] for s in shapes):
            fail(f"each layer should cache keys of shape (B, 1, T, d_head) = {(B, 1, start, d_head)}, got "
                 f"{tuple(shapes[0])}")  # fmt: skip


GEN_CASES = [(0, 3, 4, 8), (1, 1, 1, 10), (3, 2, 6, 5)]  # config, batch, prompt length, new tokens


def test_generate_greedy(student, ref, gen):
    for config, B, T, n in GEN_CASES:
        fields = CONFIGS[config]
        model = reference(ref, "PaLM", fields, gen)
        with torch.no_grad():  # the blocks outweigh the embedding in the residual stream: the context decides
            for name, p in model.named_parameters():
                if name.endswith(("o_proj.weight", "down_proj.weight")):
                    p.mul_(4.0)
        idx = torch.randint(fields["vocab_size"], (B, T), generator=gen)
        expected = idx
        with torch.no_grad():
            for _ in range(n):
                next_id = model(expected)[0][:, -1].argmax(-1, keepdim=True)
                expected = torch.cat([expected, next_id], 1)
        case = f"batch {B}, prompt of {T}, {n} new tokens, {describe(fields)}"
        for use_cache in (True, False):
            answer = student.call("palm.generate", model_obj(student, fields, state(model)), idx, n,
                                  use_cache=use_cache)  # fmt: skip
            out = expect_tensor(answer["outputs"], "generate's output", shape=(B, T + n))
            if out.dtype != torch.long:
                fail(f"generate should return token ids (torch.long), got {out.dtype}")
            if not torch.equal(out[:, :T], idx):
                fail(f"generate's output should start with the prompt [{case}]")
            if not torch.equal(out, expected):
                how = "with" if use_cache else "without"
                fail(f"greedy tokens {how} the KV cache differ from the argmax of the model's logits [{case}]")
