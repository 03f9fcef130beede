"""Hidden checks for char_rnn.py: the model against the reference, truncated BPTT, sampling, and a trained model.

The model checks load the reference CharRNN's random weights into the
submission's CharRNN and compare in float64. evaluate_lm, train_char_rnn's
protocol and sample are run on the grader's own models
(coursekit.grading.bonus_rnn_toys): `ProbeCharRNN` records what the training
loop gives it at every step. The graded training run happens in the
submission's process on the first 90% of Tiny Shakespeare, encoded by the
grader; only the weights come back. They are loaded into the REFERENCE
CharRNN and scored on the last 10% of the text, which the submission never
sees.
"""

import math

import torch

from coursekit.grading import bonus_rnn_toys as toys
from coursekit.grading.checks import expect_close, expect_state_dict, expect_tensor, fail

TOL = dict(atol=1e-10, rtol=1e-8)
CELLS = ("rnn", "gru", "lstm")
TOYS = toys.__name__
GENERATOR = f"{TOYS}.seeded_generator"
# The graded training run.
TRAIN = dict(steps=150, batch_size=32, seq_len=16, lr=1e-2)
SIZES = dict(n_embd=32, hidden_size=128, cell="lstm")
VAL_CHARS, VAL_STREAMS, VAL_SEQ_LEN = 64_000, 32, 64
LOSS_TARGET = 2.40  # nats per character on held-out text (uniform 4.17, unigram ~3.3, bigram ~2.5; reference ~2.15)


def random_model(ref, gen, V, E, H, cell, scale=0.5):
    """The reference CharRNN with random float64 weights ~ N(0, scale^2)."""
    model = ref.char_rnn.CharRNN(V, E, H, cell).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * scale)
    return model.eval()


def state_of(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def random_state(cell, B, H, gen):
    h = torch.randn(B, H, generator=gen, dtype=torch.float64)
    return (h, torch.randn(B, H, generator=gen, dtype=torch.float64)) if cell == "lstm" else h


def expect_logits_state(outputs, B, T, V, H, cell):
    if not isinstance(outputs, (tuple, list)) or len(outputs) != 2:
        fail("CharRNN.forward should return a pair (logits, state)")
    logits, state = outputs
    expect_tensor(logits, "CharRNN's logits", shape=(B, T, V), dtype=torch.float64)
    if cell == "lstm":
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            fail("with an LSTM cell, CharRNN's state should be the pair (h, c)")
        for s, what in zip(state, "hc"):
            expect_tensor(s, f"CharRNN's final {what}", shape=(B, H), dtype=torch.float64)
    else:
        expect_tensor(state, "CharRNN's final state", shape=(B, H), dtype=torch.float64)
    return logits, state


def expect_same_state(got, expected, what, case):
    if isinstance(expected, tuple):
        for g, e, part in zip(got, expected, ("h", "c")):
            expect_close(g, e, f"{what} ({part})", case=case, **TOL)
    else:
        expect_close(got, expected, what, case=case, **TOL)


def test_char_rnn_structure(student, ref):
    V, E, H = 11, 6, 5
    for cell in CELLS:
        answer = student.module("char_rnn.CharRNN", (V, E, H, cell), describe=True, seed=3,
                                steps=[{"no_call": True, "return_state": True}])  # fmt: skip
        got = answer["describe"]["parameters"]
        expected = {n: list(p.shape) for n, p in ref.char_rnn.CharRNN(V, E, H, cell).named_parameters()}
        case = f"cell={cell!r}"
        missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
        if missing:
            fail(f"CharRNN has no parameter {missing[0]} (the names the spec fixes) [{case}]")
        if extra:
            fail(f"CharRNN has an unexpected parameter {extra[0]} [{case}]")
        for name, shape in expected.items():
            if list(got[name]) != shape:
                fail(f"CharRNN.{name} has shape {tuple(got[name])}, expected {tuple(shape)} [{case}]")
        if cell == "lstm":
            state = answer["steps"][0].get("state_dict") or {}
            b_ih, b_hh = state.get("cell.bias_ih"), state.get("cell.bias_hh")
            if b_ih is None or b_hh is None or not (b_ih[H : 2 * H] == 1).all() or not (b_hh[H : 2 * H] == 0).all():
                fail(
                    "a new CharRNN's LSTM should start with its forget-gate biases summing to 1: init_forget_bias(cell, 1.0)"
                )


def test_char_rnn_forward(student, ref, gen):
    for cell, (V, E, H) in zip(CELLS, [(9, 4, 6), (13, 5, 7), (10, 6, 4)]):
        model = random_model(ref, gen, V, E, H, cell)
        inputs = [torch.randint(V, shape, generator=gen) for shape in [(3, 7), (2, 1), (4, 5)]]
        states = [None, None, random_state(cell, 4, H, gen)]
        steps = [{"mode": "eval", "args": [x] if s is None else [x, s]} for x, s in zip(inputs, states)]
        answer = student.module("char_rnn.CharRNN", (V, E, H, cell), state_dict=state_of(model),
                                dtype=torch.float64, steps=steps)  # fmt: skip
        for x, s, got in zip(inputs, states, answer["steps"]):
            B, T = x.shape
            case = f"cell={cell!r}, B={B}, T={T}, " + ("from zeros" if s is None else "from a given state")
            logits, state = expect_logits_state(got["outputs"], B, T, V, H, cell)
            with torch.no_grad():
                exp_logits, exp_state = model(x, s)
            expect_close(logits, exp_logits, "CharRNN's logits", case=case, **TOL)
            expect_same_state(state, exp_state, "CharRNN's final state (after the last character)", case)


def run_char_rnn(student, model, fields, *args):
    """The submission's CharRNN(*fields) holding `model`'s weights, called once on args in eval mode."""
    V, _, H, cell = fields
    answer = student.module("char_rnn.CharRNN", fields, state_dict=state_of(model), dtype=torch.float64,
                            steps=[{"mode": "eval", "args": list(args)}])  # fmt: skip
    return expect_logits_state(answer["steps"][0]["outputs"], args[0].shape[0], args[0].shape[1], V, H, cell)


def test_char_rnn_state_carried(student, ref, gen):
    for cell in CELLS:
        V, E, H, B, T = 8, 5, 6, 3, 9
        model = random_model(ref, gen, V, E, H, cell)
        x = torch.randint(V, (B, T), generator=gen)
        whole, _ = run_char_rnn(student, model, (V, E, H, cell), x)
        for cut in (1, 4, T - 1):
            first, state = run_char_rnn(student, model, (V, E, H, cell), x[:, :cut])
            state = tuple(state) if cell == "lstm" else state
            second, _ = run_char_rnn(student, model, (V, E, H, cell), x[:, cut:], state)
            case = f"cell={cell!r}, a text of {T} characters cut after {cut}"
            expect_close(torch.cat([first, second], dim=1), whole, "the logits of the two pieces", case=case, **TOL)


def test_batchify(student):
    for N, B in [(20, 4), (23, 4), (7, 7), (100, 3), (5, 2)]:
        data = torch.arange(N) * 7 + 3
        out = expect_tensor(student.call("char_rnn.batchify", data, B)["outputs"], "batchify's output")
        expected = toys.streams(data, B)
        if out.dim() != 2 or out.shape[0] != B:
            fail(f"batchify(data of {N} ids, {B}) has shape {tuple(out.shape)}, expected {tuple(expected.shape)}")
        if out.shape != expected.shape:
            fail(f"batchify(data of {N} ids, {B}) has shape {tuple(out.shape)}, expected {tuple(expected.shape)}: "
                 "N // B ids per stream, the remainder dropped")  # fmt: skip
        if not torch.equal(out, expected):
            if torch.equal(out, data[: out.numel()].view(-1, B).T):
                fail("batchify deals the ids out in turn: row b should be one contiguous piece, data[b·L : (b+1)·L]")
            fail(f"batchify's rows are not data[b·L : (b+1)·L] [N={N}, B={B}]")


def test_evaluate_lm(student, ref, gen):
    for cell, (B, L, T) in [("lstm", (3, 30, 7)), ("gru", (2, 25, 8)), ("rnn", (4, 13, 4))]:
        V, E, H = 10, 5, 6
        model = random_model(ref, gen, V, E, H, cell)
        streams = torch.randint(V, (B, L), generator=gen)
        obj = student.obj(f"{TOYS}.GraderCharRNN", V, E, H, cell, dropout=0.5, state_dict=state_of(model),
                          dtype=torch.float64, mode="train")  # fmt: skip
        got = student.call("char_rnn.evaluate_lm", obj, streams, T)["outputs"]
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            fail(f"evaluate_lm should return a float, got {type(got).__name__}")
        expected = ref.char_rnn.evaluate_lm(model, streams, T)
        case = f"cell={cell!r}, B={B}, L={L}, T={T}"
        if math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12):
            continue
        fresh = fresh_state_loss(model, streams, T)
        if math.isclose(got, fresh, rel_tol=1e-9):
            fail(f"each window starts from a fresh state: carry the state from window to window [{case}]")
        fail(f"evaluate_lm gave {got:.6f}, expected {expected:.6f} [{case}]")


@torch.no_grad()
def fresh_state_loss(model, streams, T):
    losses = []
    for k in range((streams.shape[1] - 1) // T):
        logits, _ = model(streams[:, k * T : k * T + T])
        y = streams[:, k * T + 1 : k * T + T + 1]
        losses.append(torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).item())
    return sum(losses) / len(losses)


def test_tbptt_protocol(student, device):
    V, E, H, B, T, L = 7, 4, 5, 3, 5, 23  # L = 4 T + 3: 4 windows per pass, the last 2 ids never read as x
    n_windows, steps = (L - 1) // T, 10
    data = torch.randint(V, (B * L + 2,), generator=torch.Generator().manual_seed(5))  # 2 ids for batchify to drop
    streams = toys.streams(data, B)
    for cell in ("gru", "lstm"):
        probe = student.obj(f"{TOYS}.ProbeCharRNN", V, E, H, cell, mode="eval")
        answer = student.call("char_rnn.train_char_rnn", probe, data, steps=steps, batch_size=B, seq_len=T, lr=1e-2,
                              device=device, seed=11)  # fmt: skip
        out = answer["outputs"]
        if not isinstance(out, dict) or "state_dict" not in out:
            fail("train_char_rnn should return the model it trained")
        state = out["state_dict"]
        info, seen = state.get("seen_info"), state.get("seen_x")
        if info is None or seen is None or state.get("last_mode") is None:
            fail("train_char_rnn should return the model it was given, trained")
        case = f"cell={cell!r}, {n_windows} windows per pass, {steps} steps"
        if len(info) == 0:
            fail("the model was never called in training mode: call model.train() before the steps")
        if len(info) != steps:
            fail(f"{len(info)} forward passes in training mode for {steps} steps: one per step [{case}]")
        for s in range(steps):
            k = s % n_windows
            window = streams[:, k * T : (k + 1) * T]
            if seen[s].shape != window.shape or not torch.equal(seen[s].cpu(), window):
                fail(f"step {s} did not read window {k} of the {B} streams (x = streams[:, kT : kT + T], "
                     f"k = step % n_windows) [{case}]")  # fmt: skip
            was_none, needs_grad, carry_error = info[s, 0].item(), info[s, 1].item(), info[s, 2].item()
            if k == 0 and not was_none:
                fail(f"step {s} starts a new pass over the streams: its state should be None [{case}]")
            if k != 0 and was_none:
                fail(f"step {s} started from a fresh state: carry the state the step before ended with [{case}]")
            if k != 0 and needs_grad:
                fail(f"the state carried into step {s} is still attached to the graph: detach it [{case}]")
            if k != 0 and not 0 <= carry_error <= 1e-12:
                fail(f"the state given to step {s} is not the state step {s - 1} ended with [{case}]")
        if state["last_mode"].item() != 0:
            fail("train_char_rnn should return the model in eval mode")
        torch.manual_seed(11)
        start = toys.ProbeCharRNN(V, E, H, cell).state_dict()
        if all(torch.equal(state[k].cpu(), start[k]) for k in start if k.startswith(("cell.", "head.", "embedding."))):
            fail("the model's weights did not change: step the optimizer")


def test_train_char_rnn(student, ref, device, shakespeare):
    chars = toys.char_vocab(shakespeare)
    train_text, val_text = toys.split_text(shakespeare)
    data = toys.encode_chars(train_text, chars)
    V = len(chars)
    model = student.obj("char_rnn.CharRNN", V, SIZES["n_embd"], SIZES["hidden_size"], SIZES["cell"])
    answer = student.call("char_rnn.train_char_rnn", model, data, **TRAIN, device=device, seed=29, watch=False)
    reference = ref.char_rnn.CharRNN(V, SIZES["n_embd"], SIZES["hidden_size"], SIZES["cell"])
    state = expect_state_dict(answer["outputs"], reference.state_dict(), "train_char_rnn's returned model")
    reference.load_state_dict({k: v.float().cpu() for k, v in state.items()})
    streams = toys.streams(toys.encode_chars(val_text[:VAL_CHARS], chars), VAL_STREAMS)
    loss = ref.char_rnn.evaluate_lm(reference, streams, VAL_SEQ_LEN)
    if not loss <= LOSS_TARGET:
        fail(
            f"after {TRAIN['steps']} steps the model's loss on held-out Shakespeare is {loss:.3f} nats per character "
            f"(needs {LOSS_TARGET:.2f}; a unigram model gets about 3.3)"
        )


def test_sample_matches_reference(student, ref, gen):
    V, E, H = 12, 5, 8
    for cell, temperature, seed in [("lstm", 1.0, 3), ("gru", 0.7, 4), ("rnn", 1.6, 5), ("lstm", 0.0, 6)]:
        model = random_model(ref, gen, V, E, H, cell, scale=0.8)
        prompt = torch.randint(V, (3, 4), generator=gen)
        n_new = 25
        obj = student.obj(f"{TOYS}.GraderCharRNN", V, E, H, cell, state_dict=state_of(model), dtype=torch.float64)
        got = student.call("char_rnn.sample", obj, prompt, n_new, temperature=temperature,
                           generator=student.obj(GENERATOR, seed), seed=seed + 100)["outputs"]  # fmt: skip
        got = expect_tensor(got, "sample's output", shape=(3, 4 + n_new), dtype=torch.long)
        case = f"cell={cell!r}, temperature={temperature:g}"
        if not torch.equal(got[:, :4], prompt):
            fail(f"sample's output should start with the prompt [{case}]")
        expected = ref.char_rnn.sample(model, prompt, n_new, temperature, torch.Generator().manual_seed(seed))
        if not torch.equal(got, expected):
            row, t = (got != expected).nonzero()[0].tolist()
            fail(f"the ids sampled differ from the reference's from new id {t - 4} of row {row} on [{case}]")
