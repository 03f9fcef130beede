"""Hidden checks for accounting.py: parameters, FLOPs and memory against built models, torch and the papers.

The ground truth for parameter counts is a model the grader builds itself
(the reference GPT, on the meta device for the GPT-3 sizes, which holds no
memory): sum(p.numel() for p in model.parameters()). The rest is checked
against the papers' formulas and published figures, and against the bytes
torch really holds for a model, its gradients and AdamW's state.
"""

import math
from unittest import mock

import torch

from coursekit.grading.checks import fail

CONFIG = "coursekit.grading.week7_toys.GPTConfig"
GPT3 = {  # Brown et al. (2020), Table 2.1: n_layer, d_model, n_head, published parameter count
    "Small": (12, 768, 12, 125e6),
    "Medium": (24, 1024, 16, 350e6),
    "Large": (24, 1536, 16, 760e6),
    "XL": (24, 2048, 16, 1.3e9),  # the table prints 24 heads of 128 (3072): 16 divide 2048; no count depends on it
    "2.7B": (32, 2560, 32, 2.7e9),
    "6.7B": (32, 4096, 32, 6.7e9),
    "13B": (40, 5120, 40, 13.0e9),
    "175B": (96, 12288, 96, 175.0e9),
}
PUBLISHED_TOL = 0.02  # Table 2.1 rounds its sizes; the exact counts are within 2% of them
GPT3_175B = 174.6e9  # the exact count, within 0.05%
GPT3_COMPUTE = 3.14e23  # FLOPs for 300B tokens (appendix D, Table D.1), within 1%
GPT3_PF_DAYS = 3640  # the same in petaflop/s-days, within 1%
PF_DAY = 1e15 * 24 * 3600
ZERO_FIGURE_1 = [120e9, 31.4e9, 16.6e9, 1.9e9]  # Psi = 7.5B, N_d = 64, K = 12; within 2% (the figure rounds)


def randint(gen, low, high):
    return int(torch.randint(low, high + 1, (1,), generator=gen))


def random_fields(gen, bias=None):
    n_head, head_dim = randint(gen, 1, 4), randint(gen, 1, 6)
    return dict(
        vocab_size=randint(gen, 3, 300), block_size=randint(gen, 1, 64), n_layer=randint(gen, 1, 4),
        n_head=n_head, n_embd=n_head * head_dim, dropout=0.0,
        bias=bool(randint(gen, 0, 1)) if bias is None else bias,
    )  # fmt: skip


def configs(gen, n=8):
    """n random configs, the first with biases and the second without."""
    return [random_fields(gen, bias=True), random_fields(gen, bias=False)] + [random_fields(gen) for _ in range(n - 2)]


def gpt3_fields(name):
    n_layer, d, n_head, _ = GPT3[name]
    return dict(vocab_size=50257, block_size=2048, n_layer=n_layer, n_head=n_head, n_embd=d, dropout=0.0, bias=True)


def built(ref, fields, meta=False):
    """(total parameters, token-embedding size, position-embedding size) of the reference GPT."""
    key = (meta, *sorted(fields.items()))
    if key not in _BUILT:
        config = ref.gpt.GPTConfig(**fields)
        if meta:  # shapes without memory; the random initialisation is skipped (it means nothing on meta)
            with torch.device("meta"), mock.patch("torch.nn.init.normal_", lambda t, *args, **kwargs: t):
                model = ref.gpt.GPT(config)
        else:
            model = ref.gpt.GPT(config)
        wte, wpe = model.transformer.wte.weight.numel(), model.transformer.wpe.weight.numel()
        _BUILT[key] = sum(p.numel() for p in model.parameters()), wte, wpe
    return _BUILT[key]


_BUILT = {}


def config_obj(student, fields):
    return student.obj(CONFIG, **fields)


def expect_int(x, what):
    if type(x) is not int:
        fail(f"{what} should return a Python int, got {type(x).__name__}")
    return x


def describe(fields):
    return "a config with bias=True" if fields["bias"] else "a config with bias=False"


def count_hint(diff, fields):
    """A likely reason for a parameter count that is off by `diff`."""
    V, T, L, d, bias = (fields[k] for k in ("vocab_size", "block_size", "n_layer", "n_embd", "bias"))
    hints = {
        V * d: "the tied lm_head counted a second time (it is the token embedding)",
        -T * d: "the position embeddings left out",
        -V * d: "the token embedding left out",
        -(V + T) * d: "both embeddings left out",
        -(2 * L + 1) * d * (1 + int(bias)): "the LayerNorms left out",
        -(2 * L + 1) * d: "LayerNorm weights or biases left out",
        -9 * L * d: "the biases of the Linear layers left out",
        11 * L * d + d: "biases counted although config.bias is False",
        -2 * L * d * d: "d_ff taken as 2d instead of 4d",
        -4 * L * d * d: "the MLP counted as d x d",
        -(2 * L + 1) * d
        - int(bias) * (11 * L + 1) * d: "the biases and LayerNorms left out (12 n_layer d^2 is an approximation)",
    }
    return hints.get(diff, f"off by {diff}")


def test_params_built_models(student, ref, gen):
    for fields in configs(gen, 8):
        expected, _, _ = built(ref, fields)
        got = expect_int(
            student.call("accounting.count_parameters", config_obj(student, fields))["outputs"], "count_parameters"
        )
        if got != expected:
            fail(
                f"count_parameters is {got} for {describe(fields)}, the built "
                f"GPT has {expected}: {count_hint(got - expected, fields)}"
            )


def test_params_non_embedding(student, ref, gen):
    for fields in configs(gen, 6):
        total, wte, wpe = built(ref, fields)
        expected = total - wte - wpe
        answer = student.call("accounting.count_parameters", config_obj(student, fields), non_embedding=True)
        got = expect_int(answer["outputs"], "count_parameters(non_embedding=True)")
        if got != expected:
            diff = got - expected
            hints = {wte: "the token embedding still counted", wpe: "the position embeddings still counted",
                     wte + wpe: "the embeddings still counted"}  # fmt: skip
            hint = hints.get(diff) or count_hint(diff, fields)
            fail(f"count_parameters(non_embedding=True) is off for {describe(fields)}: {hint}")


def test_params_gpt3(student, ref):
    for name, (*_, published) in GPT3.items():
        fields = gpt3_fields(name)
        expected, _, _ = built(ref, fields, meta=True)
        got = expect_int(
            student.call("accounting.count_parameters", config_obj(student, fields))["outputs"], "count_parameters"
        )
        if abs(got - published) > PUBLISHED_TOL * published:
            fail(
                f"GPT-3 {name}: count_parameters gives {got / 1e9:.4g}B, "
                f"the paper says {published / 1e9:.3g}B (tolerance 2%)"
            )
        if got != expected:
            fail(
                f"GPT-3 {name}: count_parameters gives {got}, the model "
                f"has {expected}: {count_hint(got - expected, fields)}"
            )
    if abs(got - GPT3_175B) > 5e-4 * GPT3_175B:
        fail(f"GPT-3 175B: {got / 1e9:.2f}B parameters, expected about 174.6B")


def forward_expected(ref, fields, meta=False):
    total, wte, wpe = built(ref, fields, meta=meta)
    N = total - wte - wpe
    return 2 * N + 2 * fields["n_layer"] * fields["block_size"] * fields["n_embd"], N, wte + wpe


def flops_hint(got, expected, N, embeddings, fields):
    attention = 2 * fields["n_layer"] * fields["block_size"] * fields["n_embd"]
    T = fields["block_size"]
    hints = {
        expected - attention: "the attention term 2 n_layer n_ctx d_attn is missing",
        expected - attention + attention * T: "the attention term grows with n_ctx^2: per token it is linear in n_ctx",
        expected + 2 * embeddings: "N should leave out the embeddings (Kaplan's non-embedding count)",
        N + attention // 2: "one FLOP per weight: a multiply-add is 2 FLOPs",
        3 * expected: "that is the training cost: this is the forward pass only",
    }
    return hints.get(got, f"off by {got - expected}")


def test_forward_flops(student, ref, gen):
    cases = [(f, False) for f in configs(gen, 6)] + [(gpt3_fields(n), True) for n in ("Small", "175B")]
    for fields, meta in cases:
        expected, N, embeddings = forward_expected(ref, fields, meta)
        got = expect_int(
            student.call("accounting.forward_flops_per_token", config_obj(student, fields))["outputs"],
            "forward_flops_per_token",
        )
        if got != expected:
            where = "GPT-3" if meta else describe(fields)
            fail(f"forward_flops_per_token is wrong for {where}: {flops_hint(got, expected, N, embeddings, fields)}")


def test_training_flops(student, ref, gen):
    for fields in configs(gen, 4) + [gpt3_fields("175B")]:
        forward, _, _ = forward_expected(ref, fields, meta=fields["n_embd"] > 1000)
        answer = student.call("accounting.training_flops_per_token", config_obj(student, fields))
        got = expect_int(answer["outputs"], "training_flops_per_token")
        if got != 3 * forward:
            theirs = student.call("accounting.forward_flops_per_token", config_obj(student, fields))["outputs"]
            if got == 3 * theirs:
                fail("training_flops_per_token is 3 x forward_flops_per_token, which is wrong (see forward_flops)")
            fail(
                f"training_flops_per_token is {got / forward:.3g} x the "
                f"forward FLOPs, expected 3 x (backward = 2 x forward)"
            )
    for _ in range(4):
        n, d = randint(gen, 1, 10**6) * 10**5, randint(gen, 1, 10**6) * 10**6
        got = student.call("accounting.training_flops", n, d)["outputs"]
        if type(got) not in (int, float):
            fail(f"training_flops should return a number, got {type(got).__name__}")
        if not math.isclose(got, 6 * n * d, rel_tol=1e-9):
            fail(f"training_flops(N, D) should be 6 N D, got {got / (n * d):.4g} N D")
    n_175b, _, _ = built(ref, gpt3_fields("175B"), meta=True)
    got = student.call("accounting.training_flops", n_175b, 300e9)["outputs"]
    if not math.isclose(got, GPT3_COMPUTE, rel_tol=0.01) or not math.isclose(got / PF_DAY, GPT3_PF_DAYS, rel_tol=0.01):
        fail(
            f"GPT-3 175B on 300B tokens: {got:.3g} FLOPs ({got / PF_DAY:.0f} "
            f"PF-days), the paper says 3.14e23 (3640 PF-days)"
        )


KEYS = ("weights", "gradients", "optimizer", "total")
PER_PARAM = {"fp32": (4, 4, 8), "mixed": (2, 2, 12)}


def expected_states(n, precision, stage=0, n_devices=1):
    w, g, o = (b * n for b in PER_PARAM[precision])
    o = o / n_devices if stage >= 1 else o
    g = g / n_devices if stage >= 2 else g
    w = w / n_devices if stage >= 3 else w
    return {"weights": w, "gradients": g, "optimizer": o, "total": w + g + o}


def expect_states(got, expected, what):
    if not isinstance(got, dict) or set(got) != set(KEYS):
        keys = sorted(got) if isinstance(got, dict) else type(got).__name__
        fail(f"{what} should return a dict with the keys {', '.join(KEYS)}, got {keys}")
    for key in KEYS:
        value = got[key]
        if type(value) not in (int, float):
            fail(f"{what}: {key!r} should be a number, got {type(value).__name__}")
        if not math.isclose(value, expected[key], rel_tol=1e-9, abs_tol=1e-6):
            fail(f"{what}: {key!r} is {value / expected[key]:.4g} x the expected bytes")


def state_call(student, n, *args, **kwargs):
    return student.call("accounting.model_state_bytes", n, *args, **kwargs)["outputs"]


def test_state_bytes(student, gen):
    for _ in range(3):
        n = randint(gen, 1, 10**6) * randint(gen, 1, 10**6)
        for precision in ("fp32", "mixed"):
            expect_states(
                state_call(student, n, precision), expected_states(n, precision), f"model_state_bytes(N, {precision!r})"
            )
        expect_states(state_call(student, n), expected_states(n, "mixed"), "model_state_bytes(N) (mixed by default)")
    n = 174_604_259_328  # GPT-3 175B: 16 bytes per parameter, about 2.8 TB
    expect_states(state_call(student, n, "mixed"), expected_states(n, "mixed"), "model_state_bytes for GPT-3 175B")


def measured_fp32(model, batch):
    """Bytes torch holds after one AdamW step in fp32: weights, gradients, optimizer state (not its step counters)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(*batch)[1].backward()
    optimizer.step()
    params = list(model.parameters())
    weights = sum(p.numel() * p.element_size() for p in params)
    grads = sum(p.grad.numel() * p.grad.element_size() for p in params)
    state = sum(t.numel() * t.element_size() for s in optimizer.state.values() for k, t in s.items() if k != "step")
    return weights, grads, state


def measured_mixed(model, batch):
    """The same for mixed precision: bfloat16 weights and gradients, AdamW on float32 master weights."""
    master = [p.detach().clone().requires_grad_(True) for p in model.parameters()]
    half = model.to(torch.bfloat16)
    half(*batch)[1].backward()
    for m, p in zip(master, half.parameters()):
        m.grad = p.grad.float()
    optimizer = torch.optim.AdamW(master, lr=1e-3)
    optimizer.step()
    params = list(half.parameters())
    weights = sum(p.numel() * p.element_size() for p in params)
    grads = sum(p.grad.numel() * p.grad.element_size() for p in params)
    state = sum(t.numel() * t.element_size() for s in optimizer.state.values() for k, t in s.items() if k != "step")
    state += sum(m.numel() * m.element_size() for m in master)
    return weights, grads, state


def test_state_bytes_measured(student, ref, gen):
    for fields in configs(gen, 3):
        for precision, measure in (("fp32", measured_fp32), ("mixed", measured_mixed)):
            torch.manual_seed(0)
            model = ref.gpt.GPT(ref.gpt.GPTConfig(**fields))
            n = sum(p.numel() for p in model.parameters())
            idx = torch.randint(fields["vocab_size"], (2, fields["block_size"]), generator=gen)
            weights, grads, state = measure(model, (idx, idx))
            expected = {"weights": weights, "gradients": grads, "optimizer": state, "total": weights + grads + state}
            expect_states(
                state_call(student, n, precision), expected, f"model_state_bytes(N, {precision!r}) against torch"
            )


def test_zero_stages(student, gen):
    for stage, published in enumerate(ZERO_FIGURE_1):
        got = state_call(student, 7.5e9, "mixed", zero_stage=stage, n_devices=64)
        expect_states(got, expected_states(7.5e9, "mixed", stage, 64), f"model_state_bytes at ZeRO stage {stage}")
        if not math.isclose(got["total"], published, rel_tol=0.02):
            fail(
                f"ZeRO stage {stage}, 7.5B parameters on 64 devices: "
                f"{got['total'] / 1e9:.3g} GB, Figure 1 says {published / 1e9:.3g} GB"
            )
    for _ in range(6):
        n = randint(gen, 1, 10**5) * 10**4
        precision = ("fp32", "mixed")[randint(gen, 0, 1)]
        n_devices = (1, 2, 8, 64, 1024)[randint(gen, 0, 4)]
        for stage in range(4):
            expect_states(
                state_call(student, n, precision, zero_stage=stage, n_devices=n_devices),
                expected_states(n, precision, stage, n_devices),
                f"model_state_bytes({precision!r}) at ZeRO stage {stage} on {n_devices} devices",
            )  # fmt: skip


def activation_expected(fields, b, s, mode):
    h, a, L = fields["n_embd"], fields["n_head"], fields["n_layer"]
    per_layer = {"none": 34 * s * b * h + 5 * a * s * s * b, "selective": 34 * s * b * h, "full": 2 * s * b * h}[mode]
    return L * per_layer


def test_activation_bytes(student, gen):
    cases = configs(gen, 4) + [gpt3_fields("175B")]
    for fields in cases:
        b = randint(gen, 1, 16)
        for seq_len in (None, randint(gen, 1, fields["block_size"])):
            s = fields["block_size"] if seq_len is None else seq_len
            for mode in ("none", "selective", "full"):
                kwargs = {"recompute": mode} if mode != "none" else {}
                answer = student.call("accounting.activation_bytes", config_obj(student, fields), b, seq_len, **kwargs)
                got = expect_int(answer["outputs"], "activation_bytes")
                expected = activation_expected(fields, b, s, mode)
                if got != expected:
                    sequence = "the default sequence length (block_size)" if seq_len is None else "a given seq_len"
                    fail(
                        f"activation_bytes with recompute={mode!r} and {sequence} "
                        f"is {got / expected:.4g} x the expected bytes"
                    )
