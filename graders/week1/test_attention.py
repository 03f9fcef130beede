"""Hidden checks for attention.py: scaled_dot_product_attention and causal_mask.

Every verdict is computed here, in the grader's process, from plain tensors
returned by the submission's process.
"""


import torch
from torch.nn import functional as F

from coursekit.grading.checks import expect_close, expect_pair, expect_tensor, fail

SDPA = "attention.scaled_dot_product_attention"
# (batch dims, Lq, Lk, d_k, d_v): no batch, Lq != Lk, d_k != d_v, several batch dims.
SHAPES = [((), 5, 7, 8, 4), ((3,), 4, 4, 16, 16), ((2, 3), 6, 9, 8, 12), ((2, 1, 2), 1, 5, 3, 2)]
TOL = {torch.float64: dict(atol=1e-10, rtol=1e-8), torch.float32: dict(atol=2e-6, rtol=1e-5)}


def randn(gen, *shape, dtype=torch.float64):
    return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)


def qkv(gen, batch, lq, lk, dk, dv, dtype=torch.float64):
    return randn(gen, *batch, lq, dk, dtype=dtype), randn(gen, *batch, lk, dk, dtype=dtype), randn(gen, *batch, lk, dv, dtype=dtype)


def random_mask(gen, shape, keep_one_per_row=True):
    mask = torch.rand(*shape, generator=gen) < 0.6
    if keep_one_per_row:  # every query row keeps at least one key
        first = torch.randint(0, shape[-1], shape[:-1], generator=gen)
        mask.scatter_(-1, first.unsqueeze(-1), True)
    return mask


def ref_sdpa(ref, q, k, v, mask=None):
    """The reference, computed in float64."""
    out, w = ref.attention.scaled_dot_product_attention(q.double(), k.double(), v.double(), mask)
    return out, w


def student_sdpa(student, q, k, v, mask=None, **kw):
    answer = student.call(SDPA, q, k, v, mask=mask, **kw)
    out, w = expect_pair(answer["outputs"], "scaled_dot_product_attention")
    return out, w, answer


def case_name(batch, lq, lk, dk, dv, dtype):
    return f"{str(dtype).replace('torch.', '')}, batch {tuple(batch)}, Lq={lq}, Lk={lk}, d_k={dk}, d_v={dv}"


def test_sdpa_shapes(student, gen):
    for batch, lq, lk, dk, dv in SHAPES:
        for dtype in (torch.float32, torch.float64):
            q, k, v = qkv(gen, batch, lq, lk, dk, dv, dtype)
            out, w, _ = student_sdpa(student, q, k, v)
            expect_tensor(out, "out", shape=(*batch, lq, dv), dtype=dtype)
            expect_tensor(w, "weights", shape=(*batch, lq, lk), dtype=dtype)


def test_sdpa_matches_reference(student, ref, gen):
    for batch, lq, lk, dk, dv in SHAPES:
        for dtype in (torch.float64, torch.float32):
            q, k, v = qkv(gen, batch, lq, lk, dk, dv, dtype)
            mask = random_mask(gen, (*batch, lq, lk)) if batch else None
            for m in (None, mask) if mask is not None else (None,):
                out, w, _ = student_sdpa(student, q, k, v, mask=m)
                exp_out, exp_w = ref_sdpa(ref, q, k, v, m)
                case = case_name(batch, lq, lk, dk, dv, dtype) + (", masked" if m is not None else "")
                expect_close(w, exp_w, "weights", case=case, **TOL[dtype])
                expect_close(out, exp_out, "out", case=case, **TOL[dtype])


def test_sdpa_matches_builtin(student, gen):
    for batch, lq, lk, dk, dv in SHAPES[1:]:
        for dtype in (torch.float64, torch.float32):
            q, k, v = qkv(gen, batch, lq, lk, dk, dv, dtype)
            for name, mask in [("no mask", None), ("random mask", random_mask(gen, (*batch, lq, lk)))]:
                out, _, _ = student_sdpa(student, q, k, v, mask=mask)
                expected = F.scaled_dot_product_attention(q.double(), k.double(), v.double(), attn_mask=mask)
                expect_close(out, expected, "out", case=f"vs F.scaled_dot_product_attention, {name}, " + case_name(batch, lq, lk, dk, dv, dtype), **TOL[dtype])


def test_sdpa_masks(student, ref, gen):
    B, H, L, Lk, d = 2, 3, 5, 6, 8
    q, k, v = randn(gen, B, H, L, d), randn(gen, B, H, Lk, d), randn(gen, B, H, Lk, d)
    causal = torch.ones(L, Lk, dtype=torch.bool).tril()
    padding = torch.ones(B, 1, 1, Lk, dtype=torch.bool)
    padding[0, ..., 4:] = False
    padding[1, ..., 2:] = False
    keys_1d = torch.tensor([True, False, True, True, False, True])
    masks = {
        "causal (Lq, Lk)": causal,
        "padding (B, 1, 1, Lk)": padding,
        "1-D over keys (Lk,)": keys_1d,
        "per-head (B, H, Lq, Lk)": random_mask(gen, (B, H, L, Lk)),
        "all allowed": torch.ones(L, Lk, dtype=torch.bool),
    }
    for name, mask in masks.items():
        out, w, _ = student_sdpa(student, q, k, v, mask=mask)
        expect_tensor(w, "weights", shape=(B, H, L, Lk))
        blocked = ~mask.expand(B, H, L, Lk)
        if (w[blocked] != 0).any():
            fail(f"weights are not exactly 0 where the mask is False [{name} mask]; True means 'may attend'")
        expect_close(w.sum(-1), torch.ones(B, H, L, dtype=torch.float64), "each row of weights summed", atol=1e-10, rtol=0, case=f"{name} mask")
        exp_out, exp_w = ref_sdpa(ref, q, k, v, mask)
        expect_close(w, exp_w, "weights", case=f"{name} mask", **TOL[torch.float64])
        expect_close(out, exp_out, "out", case=f"{name} mask", **TOL[torch.float64])


def test_sdpa_fully_masked_rows(student, gen):
    B, L, Lk, d = 2, 4, 5, 8
    q, k, v = randn(gen, B, L, d), randn(gen, B, Lk, d), randn(gen, B, Lk, d)
    mask = torch.ones(B, L, Lk, dtype=torch.bool)
    mask[0, 1] = False  # query 1 of batch 0 may attend to nothing
    mask[1, 3] = False
    mask[1, 0, 2:] = False
    for name, m in [("some rows fully masked", mask), ("everything masked", torch.zeros(L, Lk, dtype=torch.bool))]:
        out, w, _ = student_sdpa(student, q, k, v, mask=m)
        expect_tensor(out, "out", shape=(B, L, d))
        expect_tensor(w, "weights", shape=(B, L, Lk))
        expected = F.scaled_dot_product_attention(q, k, v, attn_mask=m)
        expect_close(out, expected, "out", case=f"{name}; a row with no allowed key gives 0", **TOL[torch.float64])
        dead = ~m.expand(B, L, Lk).any(-1)
        if (w[dead] != 0).any():
            fail(f"weights of a query with no allowed key should all be 0 [{name}]")


def test_sdpa_numerical_stability(student, ref, gen):
    dtype, B, d = torch.float32, 3, 8
    # Large positive scores: exp() overflows float32 unless the softmax subtracts the row max.
    q, k, v = randn(gen, B, 4, d) * 40, randn(gen, B, 6, d) * 40, randn(gen, B, 6, d)
    # Large negative scores on the allowed keys: a finite fill (e.g. -1e4) for masked keys would beat them.
    q2 = randn(gen, B, 1, d) * 12
    k2 = torch.cat([-q2 * 60 + randn(gen, B, 3, d), q2 * 60 + randn(gen, B, 3, d)], dim=1)
    v2 = randn(gen, B, 6, d)
    mask2 = torch.tensor([True, True, True, False, False, False])
    for name, (qq, kk, vv, m) in {"large scores": (q, k, v, None), "large negative scores, masked": (q2, k2, v2, mask2)}.items():
        qq, kk, vv = qq.to(dtype), kk.to(dtype), vv.to(dtype)
        out, w, _ = student_sdpa(student, qq, kk, vv, mask=m)
        expect_tensor(out, "out", dtype=dtype)  # no NaN or inf
        expect_tensor(w, "weights", dtype=dtype)
        exp_out, exp_w = ref_sdpa(ref, qq, kk, vv, m)
        expect_close(w, exp_w, "weights", atol=1e-3, rtol=0, case=f"float32, {name}")
        expect_close(out, exp_out, "out", atol=1e-3, rtol=1e-4, case=f"float32, {name}")


def test_sdpa_gradients(student, ref, gen):
    for batch, lq, lk, dk, dv in SHAPES:
        q, k, v = qkv(gen, batch, lq, lk, dk, dv)
        mask = random_mask(gen, (lq, lk))
        g_out, g_w = randn(gen, *batch, lq, dv), randn(gen, *batch, lq, lk)
        for m in (None, mask):
            answer = student.call(SDPA, q, k, v, mask=m, grad_wrt=["args.0", "args.1", "args.2"], upstream=[g_out, g_w])
            expect_pair(answer["outputs"], "scaled_dot_product_attention")
            leaves = [t.clone().requires_grad_(True) for t in (q, k, v)]
            out, w = ref.attention.scaled_dot_product_attention(*leaves, m)
            torch.autograd.backward([out, w], [g_out, g_w])
            case = case_name(batch, lq, lk, dk, dv, torch.float64) + (", masked" if m is not None else "")
            for i, name in enumerate("qkv"):
                got = answer["grads"].get(f"args.{i}")
                if got is None:
                    fail(f"no gradient reaches {name}: the computation is cut off from autograd [{case}]")
                expect_close(got, leaves[i].grad, f"gradient with respect to {name}", atol=1e-9, rtol=1e-7, case=case)


def test_sdpa_inputs_unchanged(student, gen):
    for batch, lq, lk, dk, dv in SHAPES:
        q, k, v = qkv(gen, batch, lq, lk, dk, dv)
        mask = random_mask(gen, (lq, lk), keep_one_per_row=False)
        answer = student.call(SDPA, q, k, v, mask=mask, return_inputs=True)
        expect_pair(answer["outputs"], "scaled_dot_product_attention")
        changed = answer.get("inputs_changed", [])
        if changed:
            names = {"args.0": "q", "args.1": "k", "args.2": "v", "kw.mask": "mask"}
            fail(f"modifies its input(s) in place: {', '.join(names.get(c, c) for c in changed)}")


def test_causal_mask(student):
    for n in (1, 2, 5, 17):
        mask = student.call("attention.causal_mask", n)["outputs"]
        expect_tensor(mask, f"causal_mask({n})", shape=(n, n), dtype=torch.bool)
        expected = torch.ones(n, n, dtype=torch.bool).tril()
        if not torch.equal(mask, expected):
            wrong = (mask != expected).nonzero()[0].tolist()
            fail(f"causal_mask({n})[{wrong[0]}, {wrong[1]}] is {bool(mask[tuple(wrong)])}; True should be on and below the diagonal")
    devices = student.call("attention.causal_mask", 3, device="meta")["devices"]
    if devices != ["meta"]:
        fail(f"causal_mask(3, device='meta') made its mask on {devices[0] if devices else 'no device'}: pass `device` on")
