"""Hidden checks for cells.py: RNNCell, GRUCell and LSTMCell against torch's cells, unroll, init_forget_bias.

Each cell is loaded with the weights of a torch cell (nn.RNNCell, nn.GRUCell,
nn.LSTMCell: the same names and layout) drawn at random, larger than torch's
initialisation so that every gate is far from 0.5, and compared in float64.
`unroll` and `init_forget_bias` are run on the grader's own cells
(coursekit.grading.bonus_rnn_toys), so they are judged on their own.
"""

import math

import torch
from torch import nn

from coursekit.grading import bonus_rnn_toys as toys
from coursekit.grading.checks import expect_close, expect_tensor, fail

TOL = dict(atol=1e-12, rtol=1e-10)
GRAD_TOL = dict(atol=1e-10, rtol=1e-8)
TORCH_CELLS = {"RNNCell": nn.RNNCell, "GRUCell": nn.GRUCell, "LSTMCell": nn.LSTMCell}
TORCH_LAYERS = {"RNNCell": nn.RNN, "GRUCell": nn.GRU, "LSTMCell": nn.LSTM}
TOY_CELLS = {"RNNCell": "TanhCell", "GRUCell": "GatedCell", "LSTMCell": "MemoryCell"}
SIZES = [(4, 5, 7), (1, 3, 2), (6, 8, 8)]  # (B, I, H): I != H, a single row, I == H


def torch_cell(name, I, H, gen, bias=True, scale=0.8):
    """torch's cell with random float64 weights ~ N(0, scale^2)."""
    cell = TORCH_CELLS[name](I, H, bias=bias, dtype=torch.float64)
    with torch.no_grad():
        for p in cell.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * scale)
    return cell


def state_of(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def randn(gen, *shape, scale=1.0):
    return torch.randn(*shape, generator=gen, dtype=torch.float64) * scale


def random_state(name, B, H, gen):
    if name == "LSTMCell":
        return (randn(gen, B, H), randn(gen, B, H, scale=1.5))
    return randn(gen, B, H)


def pair(outputs, what):
    if not isinstance(outputs, (tuple, list)) or len(outputs) != 2:
        fail(f"{what} should return a pair (h, c)")
    return outputs


def expect_state(got, expected, what, B, H, case, tol=TOL):
    """A cell's state: (B, H), or (h, c) for an LSTM."""
    if isinstance(expected, tuple):
        h, c = pair(got, what)
        expect_tensor(h, f"{what}'s h", shape=(B, H), dtype=torch.float64)
        expect_tensor(c, f"{what}'s c", shape=(B, H), dtype=torch.float64)
        expect_close(h, expected[0], f"{what}'s h", case=case, **tol)
        expect_close(c, expected[1], f"{what}'s c (the cell state)", case=case, **tol)
    else:
        if isinstance(got, (tuple, list)):
            fail(f"{what} should return one tensor h', not a {type(got).__name__}")
        expect_tensor(got, what, shape=(B, H), dtype=torch.float64)
        expect_close(got, expected, what, case=case, **tol)


def compare_cell(student, name, gen, biases=(True, False)):
    for bias in biases:
        for B, I, H in SIZES:
            cell = torch_cell(name, I, H, gen, bias=bias)
            x = randn(gen, B, I, scale=1.5)
            state = random_state(name, B, H, gen)
            steps = [{"args": [x, state]}, {"args": [x]}]
            answer = student.module(f"cells.{name}", (I, H), {"bias": bias}, state_dict=state_of(cell),
                                    dtype=torch.float64, steps=steps)  # fmt: skip
            case = f"B={B}, I={I}, H={H}, bias={bias}"
            with torch.no_grad():
                expected = [cell(x, state), cell(x)]
            for got, exp, start in zip(answer["steps"], expected, ("a given state", "state None (zeros)")):
                expect_state(got["outputs"], exp, f"{name}'s output", B, H, f"{case}, {start}")


def test_cell_structure(student):
    for name, builtin in TORCH_CELLS.items():
        for bias in (True, False):
            I, H = 5, 3
            answer = student.module(f"cells.{name}", (I, H), {"bias": bias}, call=False, describe=True)
            got = answer["describe"]["parameters"]
            expected = {n: list(p.shape) for n, p in builtin(I, H, bias=bias).named_parameters()}
            case = f"{name}({I}, {H}, bias={bias})"
            missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
            if missing:
                fail(f"{case} has no parameter {missing[0]} (torch's names: {', '.join(expected)})")
            if extra:
                fail(f"{case} has an unexpected parameter {extra[0]}")
            for pname, shape in expected.items():
                if list(got[pname]) != shape:
                    fail(f"{case}.{pname} has shape {tuple(got[pname])}, expected {tuple(shape)}")


def test_cell_init(student):
    I, H = 200, 256  # I != H: the bound is 1/sqrt(H)
    bound = 1 / math.sqrt(H)
    for name in TORCH_CELLS:
        answer = student.module(f"cells.{name}", (I, H), call=False, return_state=True)
        state = answer.get("state_dict") or {}
        for pname in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            p = expect_tensor(state.get(pname), f"{name}.{pname}").double().flatten()
            what = f"{name}(I={I}, H={H}).{pname}"
            if p.abs().max() > bound * (1 + 1e-6):
                fail(f"{what} has values up to {p.abs().max():.4f}, beyond 1/sqrt(H) = {bound:.4f}")
            if p.abs().max() < 0.95 * bound:
                fail(
                    f"{what} only reaches {p.abs().max():.4f}: expected U(-1/sqrt(H), 1/sqrt(H)), 1/sqrt(H) = {bound:.4f}"
                )
            n = p.numel()
            std = bound / math.sqrt(3)
            if abs(p.mean()) > 5 * std / math.sqrt(n):
                fail(f"{what} has mean {p.mean():.4f}: expected U(-1/sqrt(H), 1/sqrt(H)), centred on 0")
            if abs(p.std() / std - 1) > 6 / math.sqrt(n) + 0.01:
                fail(f"{what} has std {p.std():.4f}, expected {std:.4f} for U(-1/sqrt(H), 1/sqrt(H))")
            share = (p.abs() > bound / 2).double().mean()
            if abs(share - 0.5) > 5 * 0.5 / math.sqrt(n):
                fail(f"{what} is not uniform: {share:.1%} of the values beyond half the bound, expected 50%")


def test_rnn_cell_matches_torch(student, gen):
    compare_cell(student, "RNNCell", gen)


def test_gru_cell_matches_torch(student, gen):
    compare_cell(student, "GRUCell", gen)


def test_lstm_cell_matches_torch(student, gen):
    compare_cell(student, "LSTMCell", gen)


def test_cell_gradients(student, gen):
    for name in TORCH_CELLS:
        for bias in (True, False):
            B, I, H = 3, 4, 5
            cell = torch_cell(name, I, H, gen, bias=bias)
            x = randn(gen, B, I, scale=1.5)
            state = random_state(name, B, H, gen)
            lstm = isinstance(state, tuple)
            upstream = [randn(gen, B, H) for _ in range(2 if lstm else 1)]
            wrt = ["args.0", "args.1.0", "args.1.1"] if lstm else ["args.0", "args.1"]
            step = {"args": [x, state], "grad_wrt": wrt, "upstream": upstream, "param_grads": True}
            answer = student.module(f"cells.{name}", (I, H), {"bias": bias}, state_dict=state_of(cell),
                                    dtype=torch.float64, steps=[step])["steps"][0]  # fmt: skip
            leaves = [x.clone().requires_grad_()] + [s.clone().requires_grad_() for s in (state if lstm else [state])]
            out = cell(leaves[0], tuple(leaves[1:]) if lstm else leaves[1])
            torch.autograd.backward(list(out) if lstm else [out], upstream)
            case = f"{name}, bias={bias}"
            grads = answer.get("grads") or {}
            for path, leaf in zip(wrt, leaves):
                what = {"args.0": "x", "args.1": "h", "args.1.0": "h", "args.1.1": "c"}[path]
                if grads.get(path) is None:
                    fail(f"no gradient reaches the input {what} [{case}]")
                expect_close(grads[path], leaf.grad, f"the gradient with respect to {what}", case=case, **GRAD_TOL)
            param_grads = answer.get("param_grads") or {}
            for pname, p in cell.named_parameters():
                if param_grads.get(pname) is None:
                    fail(f"no gradient reaches {pname} [{case}]")
                expect_close(param_grads[pname], p.grad, f"the gradient of {pname}", case=case, **GRAD_TOL)


def toy_cell(student, name, cell):
    """The grader's own cell in the submission's process, holding `cell`'s weights."""
    return student.obj(f"{toys.__name__}.{TOY_CELLS[name]}", cell.input_size, cell.hidden_size,
                       state_dict=state_of(cell), dtype=torch.float64)  # fmt: skip


def layer_with(name, cell):
    """torch's one-layer nn.RNN / nn.GRU / nn.LSTM (batch_first) holding `cell`'s weights."""
    layer = TORCH_LAYERS[name](cell.input_size, cell.hidden_size, batch_first=True, dtype=torch.float64)
    layer.load_state_dict({f"{k}_l0": v for k, v in state_of(cell).items()})
    return layer


def run_layer(layer, x, state=None):
    """torch's layer on x (B, T, I): outputs (B, T, H) and the final state as unroll returns it."""
    lstm = isinstance(layer, nn.LSTM)
    if state is not None:
        state = tuple(s[None] for s in state) if lstm else state[None]
    with torch.no_grad():
        out, final = layer(x, state)
    return out, (tuple(s[0] for s in final) if lstm else final[0])


def unroll_answer(answer, B, T, H, what):
    out = answer["outputs"]
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail(f"{what} should return a pair (outputs, state)")
    expect_tensor(out[0], f"{what}'s outputs", shape=(B, T, H), dtype=torch.float64)
    return out


def test_unroll_matches_torch(student, gen):
    for name in TORCH_CELLS:
        for B, T, I, H in [(3, 6, 4, 5), (2, 1, 3, 3)]:
            cell = torch_cell(name, I, H, gen, scale=0.6)
            layer = layer_with(name, cell)
            x = randn(gen, B, T, I)
            for state in (None, random_state(name, B, H, gen)):
                start = "from zeros" if state is None else "from a given state"
                case = f"{name}, B={B}, T={T}, {start}"
                answer = student.call("cells.unroll", toy_cell(student, name, cell), x, state)
                outputs, final = unroll_answer(answer, B, T, H, "unroll")
                expected_out, expected_final = run_layer(layer, x, state)
                expect_close(outputs, expected_out, "unroll's outputs", case=case, **TOL)
                expect_state(final, expected_final, "unroll's final state", B, H, case)


def masked_run(cell, x, state, mask):
    """The spec of unroll with a mask, on torch's cell: a masked step keeps the state it was given."""
    B, T, H = x.shape[0], x.shape[1], cell.hidden_size
    lstm = isinstance(cell, nn.LSTMCell)
    if state is None:
        zeros = torch.zeros(B, H, dtype=torch.float64)
        state = (zeros, zeros) if lstm else zeros
    outputs = []
    with torch.no_grad():
        for t in range(T):
            new, keep = cell(x[:, t], state), mask[:, t, None]
            state = (
                tuple(torch.where(keep, n, s) for n, s in zip(new, state)) if lstm else torch.where(keep, new, state)
            )
            outputs.append(state[0] if lstm else state)
    return torch.stack(outputs, dim=1), state


def test_unroll_masking(student, gen):
    B, T, I, H = 6, 7, 3, 4
    lengths = torch.tensor([7, 1, 4, 3, 6, 2])
    prefix = torch.arange(T)[None, :] < lengths[:, None]  # (B, T): real steps first, then padding
    holes = prefix.clone()
    holes[0, 2] = holes[0, 5] = False  # masked steps in the middle of a row too
    holes[3, 0] = False  # and at the very start
    for name in TORCH_CELLS:
        cell = torch_cell(name, I, H, gen, scale=0.6)
        layer = layer_with(name, cell)
        x = randn(gen, B, T, I)
        for mask, kind in ((prefix, "padding at the end"), (holes, "masked steps inside a row")):
            for state in (None, random_state(name, B, H, gen)):
                case = f"{name}, {kind}, " + ("from zeros" if state is None else "from a given state")
                answer = student.call("cells.unroll", toy_cell(student, name, cell), x, state, mask=mask)
                outputs, final = unroll_answer(answer, B, T, H, "unroll")
                exp_out, exp_final = masked_run(cell, x, state, mask)
                if mask is prefix and state is None:  # the spec, as torch's layer sees it: each row run on its own
                    for b in range(B):
                        _, row = run_layer(layer, x[b : b + 1, : lengths[b]])
                        got = torch.cat(row) if isinstance(row, tuple) else row
                        want = (
                            torch.cat([s[b : b + 1] for s in exp_final])
                            if isinstance(exp_final, tuple)
                            else (exp_final[b : b + 1])
                        )
                        assert torch.allclose(got, want, atol=1e-12), "the grader's masked run disagrees with torch"
                expect_state(final, exp_final, "unroll's final state", B, H, case)
                expect_close(outputs, exp_out, "unroll's outputs (a masked step repeats the carried h)", case=case,
                             **TOL)  # fmt: skip


def test_lstm_forget_bias(student, gen):
    for I, H, value in [(3, 4, 1.0), (5, 2, 2.5), (2, 6, -0.5)]:
        cell = torch_cell("LSTMCell", I, H, gen)
        before = state_of(cell)
        answer = student.call("cells.init_forget_bias", toy_cell(student, "LSTMCell", cell), value)
        out = answer["outputs"]
        if not isinstance(out, dict) or "state_dict" not in out:
            fail("init_forget_bias should return the cell it was given")
        after = out["state_dict"]
        case = f"H={H}, value={value}"
        expected = {k: v.clone() for k, v in before.items()}
        expected["bias_ih"][H : 2 * H] = value
        expected["bias_hh"][H : 2 * H] = 0.0
        for key in ("bias_ih", "bias_hh"):
            got = expect_tensor(after.get(key), f"the cell's {key}", shape=(4 * H,), dtype=torch.float64)
            for gate, rows in zip("ifgo", range(4)):
                part = slice(rows * H, (rows + 1) * H)
                if not torch.equal(got[part], expected[key][part]):
                    if gate == "f":
                        total = value if key == "bias_ih" else 0.0
                        fail(f"{key}'s forget-gate rows (H to 2H) should be {total:g} [{case}]")
                    fail(f"{key}'s rows of gate {gate} changed: only the forget gate's (rows H to 2H) should [{case}]")
        for key in ("weight_ih", "weight_hh"):
            if not torch.equal(after.get(key), before[key]):
                fail(f"init_forget_bias changed {key}: only the forget gate's biases should change [{case}]")
