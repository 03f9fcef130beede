"""Hidden checks for transformer.py: layers against torch's built-ins, the model against the reference."""

import torch
from torch import nn

from coursekit.grading.checks import expect_causal, expect_close, expect_state_dict, expect_tensor

TOL = dict(atol=1e-10, rtol=1e-8)


def randn(gen, *shape):
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


def randomize(module, gen):
    """Random weights everywhere (LayerNorm scales near 1), so every parameter matters."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.3 * randn(gen, *p.shape))
            elif p.dim() == 2 and "embed" not in name:
                p.copy_(randn(gen, *p.shape) / p.size(1) ** 0.5)
            else:
                p.copy_(0.5 * randn(gen, *p.shape))
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def ref_layer(ref, kind, d, h, d_ff, norm_first, gen):
    cls = getattr(ref.transformer, kind)
    module = cls(d, h, d_ff, dropout=0.0, norm_first=norm_first).double().eval()
    return module, randomize(module, gen)


def copy_attention(builtin, state, prefix):
    with torch.no_grad():
        builtin.in_proj_weight.copy_(torch.cat([state[f"{prefix}.{p}_proj.weight"] for p in "qkv"]))
        builtin.in_proj_bias.copy_(torch.cat([state[f"{prefix}.{p}_proj.bias"] for p in "qkv"]))
        builtin.out_proj.weight.copy_(state[f"{prefix}.out_proj.weight"])
        builtin.out_proj.bias.copy_(state[f"{prefix}.out_proj.bias"])


def copy_rest(builtin, state, norms):
    with torch.no_grad():
        for i in (1, 2):
            getattr(builtin, f"linear{i}").weight.copy_(state[f"ff.linear{i}.weight"])
            getattr(builtin, f"linear{i}").bias.copy_(state[f"ff.linear{i}.bias"])
        for i in range(1, norms + 1):
            getattr(builtin, f"norm{i}").weight.copy_(state[f"norm{i}.weight"])
            getattr(builtin, f"norm{i}").bias.copy_(state[f"norm{i}.bias"])


def lengths_mask(gen, B, S):
    lengths = torch.randint(1, S + 1, (B,), generator=gen)
    lengths[0] = S
    return torch.arange(S) < lengths[:, None]  # (B, S), True at real positions


def student_layer_state(student, target, init, kwargs, state):
    """The layer's parameter names must match the spec's before weights can be loaded."""
    answer = student.module(target, init, kwargs, steps=[{"no_call": True, "return_state": True}], dtype=torch.float64)
    expect_state_dict(answer["steps"][0].get("state_dict"), state, target.split(".")[1])


def test_encoder_layer_matches_builtin(student, ref, gen):
    for d, h, d_ff, B, S in [(16, 4, 32, 3, 7), (12, 2, 20, 2, 5)]:
        for norm_first in (False, True):
            module, state = ref_layer(ref, "EncoderLayer", d, h, d_ff, norm_first, gen)
            init, kwargs = (d, h, d_ff), {"dropout": 0.0, "norm_first": norm_first}
            student_layer_state(student, "transformer.EncoderLayer", init, kwargs, state)
            builtin = nn.TransformerEncoderLayer(
                d, h, d_ff, dropout=0.0, activation="relu", batch_first=True, norm_first=norm_first, dtype=torch.float64
            ).eval()
            copy_attention(builtin.self_attn, state, "self_attn")
            copy_rest(builtin, state, 2)
            x = randn(gen, B, S, d)
            real = lengths_mask(gen, B, S)
            for masked in (False, True):
                expected = builtin(x, src_key_padding_mask=~real if masked else None)  # grad on: no fast path
                mask = real[:, None, None, :] if masked else None
                got = student.module("transformer.EncoderLayer", init, kwargs, x, mask=mask, state_dict=state, dtype=torch.float64)
                case = f"norm_first={norm_first}, d_model={d}, heads={h}, " + ("padding mask" if masked else "no mask")
                expect_close(got["outputs"], expected, "EncoderLayer output", case=f"vs nn.TransformerEncoderLayer, {case}", **TOL)


def test_decoder_layer_matches_builtin(student, ref, gen):
    for d, h, d_ff, B, T, S in [(16, 4, 32, 3, 6, 7), (12, 3, 20, 2, 5, 4)]:
        for norm_first in (False, True):
            module, state = ref_layer(ref, "DecoderLayer", d, h, d_ff, norm_first, gen)
            init, kwargs = (d, h, d_ff), {"dropout": 0.0, "norm_first": norm_first}
            student_layer_state(student, "transformer.DecoderLayer", init, kwargs, state)
            builtin = nn.TransformerDecoderLayer(
                d, h, d_ff, dropout=0.0, activation="relu", batch_first=True, norm_first=norm_first, dtype=torch.float64
            ).eval()
            copy_attention(builtin.self_attn, state, "self_attn")
            copy_attention(builtin.multihead_attn, state, "cross_attn")
            copy_rest(builtin, state, 3)
            x, memory = randn(gen, B, T, d), randn(gen, B, S, d)
            real = lengths_mask(gen, B, S)
            causal = torch.ones(T, T, dtype=torch.bool).tril()
            expected = builtin(x, memory, tgt_mask=~causal, memory_key_padding_mask=~real)
            got = student.module(
                "transformer.DecoderLayer", init, kwargs, x, memory, tgt_mask=causal, memory_mask=real[:, None, None, :],
                state_dict=state, dtype=torch.float64,
            )  # fmt: skip
            case = f"vs nn.TransformerDecoderLayer, norm_first={norm_first}, d_model={d}, heads={h}, causal and memory padding masks"
            expect_close(got["outputs"], expected, "DecoderLayer output", case=case, **TOL)


MODEL = "transformer.Transformer"


def ref_model(ref, gen, src_vocab, tgt_vocab, d, h, n_layers, d_ff, max_len, norm_first):
    init = (src_vocab, tgt_vocab, d, h, n_layers, d_ff, 0.0, max_len, norm_first)
    model = ref.transformer.Transformer(*init).double().eval()
    return init, model, randomize(model, gen)


def test_model_matches_reference(student, ref, gen):
    for norm_first in (False, True):
        init, model, state = ref_model(ref, gen, 11, 9, 16, 4, 2, 24, 20, norm_first)
        answer = student.module(MODEL, init, None, steps=[{"no_call": True, "return_state": True}], dtype=torch.float64)
        expect_state_dict(answer["steps"][0].get("state_dict"), state, f"Transformer(norm_first={norm_first})")
        B, S, T = 3, 7, 6
        src = torch.randint(3, 11, (B, S), generator=gen)
        real = lengths_mask(gen, B, S)
        src = src.masked_fill(~real, 0)
        src_mask = real[:, None, None, :]
        tgt = torch.randint(1, 9, (B, T), generator=gen)
        with torch.no_grad():
            memory = model.encode(src, src_mask)
            logits = model.decode(tgt, memory, src_mask)
            full = model(src, tgt, src_mask)
        steps = [
            {"method": "encode", "args": [src, src_mask], "mode": "eval"},
            {"method": "decode", "args": [tgt, memory, src_mask]},
            {"args": [src, tgt, src_mask]},
        ]
        answer = student.module(MODEL, init, None, steps=steps, state_dict=state, dtype=torch.float64)
        case = f"norm_first={norm_first}"
        got_memory, got_logits, got_full = (s["outputs"] for s in answer["steps"])
        expect_close(got_memory, memory, "encode(src, src_mask)", case=case, **TOL)
        expect_close(got_logits, logits, "decode(tgt, memory, src_mask)", case=case, **TOL)
        expect_close(got_full, full, "forward(src, tgt, src_mask)", case=case, **TOL)


def test_model_causal(student, ref, gen):
    init, model, state = ref_model(ref, gen, 10, 10, 16, 4, 2, 24, 16, False)
    B, S, T = 2, 5, 8
    src = torch.randint(3, 10, (B, S), generator=gen)
    tgt = torch.randint(1, 10, (B, T), generator=gen)
    variants, cuts = [tgt], (2, 5)
    for t in cuts:
        changed = tgt.clone()
        changed[:, t:] = torch.randint(3, 10, (B, T - t), generator=gen)
        variants.append(changed)
    steps = [{"args": [src, v], "mode": "eval"} for v in variants]
    answer = student.module(MODEL, init, None, steps=steps, state_dict=state, dtype=torch.float64)
    outs = [expect_tensor(s["outputs"], "forward(src, tgt)", shape=(B, T, 10)) for s in answer["steps"]]
    for t, out in zip(cuts, outs[1:]):
        expect_causal(out, outs[0], t, "the logits", atol=1e-10, rtol=0)


def test_model_padding(student, ref, gen):
    init, model, state = ref_model(ref, gen, 10, 10, 16, 4, 2, 24, 16, False)
    B, S, T, extra = 3, 6, 5, 3
    real = lengths_mask(gen, B, S)
    real[1, 3:] = False
    src = torch.randint(3, 10, (B, S), generator=gen).masked_fill(~real, 0)
    tgt = torch.randint(1, 10, (B, T), generator=gen)
    junk = torch.where(real, src, torch.randint(3, 10, (B, S), generator=gen))  # other tokens under the padding
    longer = torch.cat([src, torch.zeros(B, extra, dtype=torch.long)], dim=1)  # more padding columns
    longer_real = torch.cat([real, torch.zeros(B, extra, dtype=torch.bool)], dim=1)
    steps = [
        {"args": [src, tgt, real[:, None, None, :]], "mode": "eval"},
        {"args": [junk, tgt, real[:, None, None, :]]},
        {"args": [longer, tgt, longer_real[:, None, None, :]]},
    ]
    answer = student.module(MODEL, init, None, steps=steps, state_dict=state, dtype=torch.float64)
    base, with_junk, with_more = (expect_tensor(s["outputs"], "forward(src, tgt, src_mask)", shape=(B, T, 10)) for s in answer["steps"])
    with torch.no_grad():
        expected = model(src, tgt, real[:, None, None, :])
    expect_close(base, expected, "logits", case="padded source", **TOL)
    expect_close(with_junk, base, "logits", atol=1e-10, rtol=0, case="other tokens at masked source positions must not change them")
    expect_close(with_more, base, "logits", atol=1e-10, rtol=0, case="extra padding columns must not change them")
