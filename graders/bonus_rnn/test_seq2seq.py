"""Hidden checks for seq2seq.py: additive attention, the encoder, the decoder step and the whole model against the
reference in float64, the loss, greedy decoding, and a trained model.

The model checks load the reference's random weights into the submission's
classes. greedy_decode runs on the grader's own model
(coursekit.grading.bonus_rnn_toys.GraderSeq2Seq). train_seq2seq trains in the
submission's process; only the weights come back. They are loaded into the
REFERENCE Seq2Seq, which greedily decodes the grader's own held-out
sequences: the exact-match accuracy is the grade.
"""

import torch
from torch.nn import functional as F

from coursekit.grading import bonus_rnn_toys as toys
from coursekit.grading.checks import expect_close, expect_state_dict, expect_tensor, fail

TOL = dict(atol=1e-10, rtol=1e-8)
V = 13  # the reversal task's vocabulary: PAD, BOS, EOS and 10 digits
PAD, BOS, EOS = toys.PAD, toys.BOS, toys.EOS
N_DIGIT_START = toys.N_SPECIAL  # the first digit's token
# The graded training run: sizes, steps, task.
SIZES = dict(emb_size=16, hidden_size=48, attn_size=48)
TRAIN = dict(steps=250, batch_size=64, lr=1e-2, min_len=1, max_len=6, n_digits=10)
HELD_OUT = 1000
ACCURACY_TARGET = 0.85  # exact match; the reference reaches 0.96-0.99 (seeds 1-3, 29)


def randomize(module, gen, scale=0.5):
    module = module.double()
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * scale)
    return module.eval()


def state_of(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def randn(gen, *shape, scale=1.0):
    return torch.randn(*shape, generator=gen, dtype=torch.float64) * scale


def masks(gen, B, S):
    """Prefix masks of random lengths (one full row, one of length 1), and one with holes."""
    lengths = torch.randint(1, S + 1, (B,), generator=gen)
    lengths[0], lengths[-1] = S, 1
    prefix = torch.arange(S)[None, :] < lengths[:, None]
    holes = torch.rand(B, S, generator=gen) < 0.6
    holes[:, 0] = True
    return [prefix, holes]


def expect_pair(outputs, what, names):
    if not isinstance(outputs, (tuple, list)) or len(outputs) != 2:
        fail(f"{what} should return a pair ({', '.join(names)})")
    return outputs


def attention(student, ref, gen, q, k, a):
    module = randomize(ref.seq2seq.AdditiveAttention(q, k, a), gen)
    return module, lambda steps: student.module("seq2seq.AdditiveAttention", (q, k, a), state_dict=state_of(module),
                                                dtype=torch.float64, steps=steps)["steps"]  # fmt: skip


def test_attention_matches_reference(student, ref, gen):
    for B, S, q, k, a in [(4, 6, 5, 7, 3), (1, 1, 4, 4, 4), (3, 9, 6, 2, 8)]:
        module, run = attention(student, ref, gen, q, k, a)
        cases = [(randn(gen, B, q), randn(gen, B, S, k), mask) for mask in masks(gen, B, S)]
        cases.append((randn(gen, B, q), randn(gen, B, S, k), torch.ones(B, S, dtype=torch.bool)))
        answers = run([{"args": list(c)} for c in cases])
        for (s, h, mask), answer in zip(cases, answers):
            context, alpha = expect_pair(answer["outputs"], "AdditiveAttention", ("context", "alpha"))
            case = f"B={B}, S={S}, query {q}, key {k}, attn {a}, {int(mask.sum())} of {B * S} positions real"
            expect_tensor(context, "the context", shape=(B, k), dtype=torch.float64)
            expect_tensor(alpha, "the attention weights", shape=(B, S), dtype=torch.float64)
            with torch.no_grad():
                exp_context, exp_alpha = module(s, h, mask)
            expect_close(alpha, exp_alpha, "the attention weights", case=case, **TOL)
            expect_close(context, exp_context, "the context", case=case, **TOL)


def test_attention_masking(student, ref, gen):
    B, S, q, k, a = 5, 8, 6, 4, 5
    _, run = attention(student, ref, gen, q, k, a)
    steps, cases = [], []
    for mask in masks(gen, B, S):
        s, h = randn(gen, B, q), randn(gen, B, S, k)
        other = torch.where(mask[:, :, None], h, randn(gen, B, S, k, scale=50.0))  # only the padded positions change
        cases.append(mask)
        steps += [{"args": [s, h, mask]}, {"args": [s, other, mask]}]
    answers = run(steps)
    for i, mask in enumerate(cases):
        (c1, a1), (c2, a2) = (expect_pair(answers[2 * i + j]["outputs"], "AdditiveAttention", ("context", "alpha"))
                              for j in (0, 1))  # fmt: skip
        for alpha in (a1, a2):
            expect_tensor(alpha, "the attention weights", shape=(B, S), dtype=torch.float64)
            if (alpha[~mask] != 0).any():
                fail("padded (masked) positions get a non-zero attention weight: their score should be -inf")
            expect_close(alpha.sum(dim=1), torch.ones(B, dtype=torch.float64), "the sum of each row's weights over the "
                         "source", atol=1e-12, rtol=0)  # fmt: skip
        expect_close(a2, a1, "the weights after changing only padded annotations", atol=1e-12, rtol=1e-10)
        expect_close(c2, c1, "the context after changing only padded annotations", atol=1e-12, rtol=1e-10)


def reversal_batch(gen_seed, B, min_len, max_len):
    return toys.make_reversal_batch(B, min_len, max_len, 10, torch.Generator().manual_seed(gen_seed))


def test_encoder_matches_reference(student, ref, gen):
    for E, H, seed in [(5, 7, 1), (6, 3, 2)]:
        module = randomize(ref.seq2seq.Encoder(V, E, H), gen)
        src, _ = reversal_batch(seed, 6, 1, 6)
        padded = torch.cat([src, torch.full((6, 3), PAD)], dim=1)  # more padding changes nothing
        answers = student.module("seq2seq.Encoder", (V, E, H), state_dict=state_of(module), dtype=torch.float64,
                                 steps=[{"args": [src]}, {"args": [padded]}])["steps"]  # fmt: skip
        for x, answer in zip((src, padded), answers):
            annotations, final = expect_pair(answer["outputs"], "Encoder", ("annotations", "final"))
            B, S = x.shape
            case = f"emb {E}, hidden {H}, sources of 1-6 digits padded to {S}"
            expect_tensor(annotations, "the annotations", shape=(B, S, H), dtype=torch.float64)
            expect_tensor(final, "the final state", shape=(B, H), dtype=torch.float64)
            with torch.no_grad():
                exp_annotations, exp_final = module(x)
            real = x != PAD
            expect_close(annotations[real], exp_annotations[real], "the annotations at real positions", case=case,
                         **TOL)  # fmt: skip
            expect_close(final, exp_final, "the final state (the state after each row's last real token)",
                         case=case, **TOL)  # fmt: skip


def test_decoder_step(student, ref, gen):
    for B, S, E, H, A in [(4, 7, 5, 6, 3), (2, 3, 8, 4, 4)]:
        module = randomize(ref.seq2seq.Decoder(V, E, H, A), gen)
        steps, cases = [], []
        for mask in masks(gen, B, S):
            y = torch.randint(V, (B,), generator=gen)
            args = [y, randn(gen, B, H), randn(gen, B, S, H), mask]
            cases.append(args)
            steps.append({"args": args})
        answers = student.module("seq2seq.Decoder", (V, E, H, A), state_dict=state_of(module), dtype=torch.float64,
                                 steps=steps)["steps"]  # fmt: skip
        for args, answer in zip(cases, answers):
            out = answer["outputs"]
            if not isinstance(out, (tuple, list)) or len(out) != 3:
                fail("Decoder.forward should return (logits, s, alpha)")
            case = f"B={B}, S={S}, emb {E}, hidden {H}, attn {A}"
            expect_tensor(out[0], "the step's logits", shape=(B, V), dtype=torch.float64)
            expect_tensor(out[1], "the new state", shape=(B, H), dtype=torch.float64)
            expect_tensor(out[2], "the attention weights", shape=(B, S), dtype=torch.float64)
            with torch.no_grad():
                expected = module(*args)
            expect_close(out[2], expected[2], "the attention weights (from the PREVIOUS state)", case=case, **TOL)
            expect_close(out[1], expected[1], "the new state s", case=case, **TOL)
            expect_close(out[0], expected[0], "the step's logits", case=case, **TOL)


def model_case(seed, B=5):
    """Sources of 1-5 digits and the decoder's teacher-forced inputs BOS y_1 .. y_n EOS PAD ..."""
    src, tgt = reversal_batch(seed, B, 1, 5)
    return src, tgt[:, :-1]


def test_seq2seq_forward(student, ref, gen):
    for E, H, A, seed in [(5, 6, 4, 1), (3, 4, 7, 2)]:
        module = randomize(ref.seq2seq.Seq2Seq(V, E, H, A), gen)
        src, tgt_in = model_case(seed)
        other = tgt_in.clone()
        other[:, 1:] = torch.randint(N_DIGIT_START, V, other[:, 1:].shape, generator=gen)  # any previous tokens
        steps = [{"mode": "eval", "args": [src, t]} for t in (tgt_in, other)]
        answers = student.module("seq2seq.Seq2Seq", (V, E, H, A), state_dict=state_of(module), dtype=torch.float64,
                                 steps=steps)["steps"]  # fmt: skip
        for t, answer in zip((tgt_in, other), answers):
            logits, alphas = expect_pair(answer["outputs"], "Seq2Seq.forward", ("logits", "alphas"))
            B, T = t.shape
            case = f"emb {E}, hidden {H}, attn {A}, B={B}, T={T}"
            expect_tensor(logits, "Seq2Seq's logits", shape=(B, T, V), dtype=torch.float64)
            expect_tensor(alphas, "Seq2Seq's attention weights", shape=(B, T, src.shape[1]), dtype=torch.float64)
            with torch.no_grad():
                exp_logits, exp_alphas = module(src, t)
            expect_close(logits[:, :1], exp_logits[:, :1], "the logits of the first step", case=case, **TOL)
            expect_close(logits, exp_logits, "Seq2Seq's logits (each step fed the true previous token)", case=case,
                         **TOL)  # fmt: skip
            expect_close(alphas, exp_alphas, "Seq2Seq's attention weights", case=case, **TOL)


def test_seq2seq_gradients(student, ref, gen):
    E, H, A = 4, 5, 6
    module = randomize(ref.seq2seq.Seq2Seq(V, E, H, A), gen)
    src, tgt_in = model_case(3)
    B, T, S = *tgt_in.shape, src.shape[1]
    upstream = [randn(gen, B, T, V), randn(gen, B, T, S)]
    step = {"mode": "eval", "args": [src, tgt_in], "upstream": upstream, "param_grads": True}
    got = student.module("seq2seq.Seq2Seq", (V, E, H, A), state_dict=state_of(module), dtype=torch.float64,
                         steps=[step])["steps"][0].get("param_grads") or {}  # fmt: skip
    module.zero_grad()
    torch.autograd.backward(list(module(src, tgt_in)), upstream)
    for name, p in module.named_parameters():
        if got.get(name) is None:
            fail(f"no gradient reaches {name}")
        expect_close(got[name], p.grad, f"the gradient of {name}", **TOL)


def test_seq2seq_loss(student, gen):
    for B, T in [(4, 6), (1, 3), (6, 8)]:
        logits = randn(gen, B, T, V, scale=2.0)
        targets = torch.randint(N_DIGIT_START, V, (B, T), generator=gen)
        lengths = torch.randint(1, T + 1, (B,), generator=gen)
        lengths[0] = T
        targets[torch.arange(T)[None, :] >= lengths[:, None]] = PAD  # rows of different lengths
        targets[0, 1] = BOS  # a real token that is not a digit
        upstream = torch.tensor(1.3, dtype=torch.float64)
        answer = student.call("seq2seq.seq2seq_loss", logits, targets, grad_wrt=["args.0"], upstream=[upstream])
        loss = expect_tensor(answer["outputs"], "the loss", shape=(), dtype=torch.float64)
        leaf = logits.clone().requires_grad_()
        expected = F.cross_entropy(leaf.reshape(-1, V), targets.reshape(-1), ignore_index=PAD)
        (expected * upstream).backward()
        case = f"B={B}, T={T}, {int((targets != PAD).sum())} non-PAD targets"
        expect_close(loss, expected, "the loss", case=case, **TOL)
        grad = (answer.get("grads") or {}).get("args.0")
        if grad is None:
            fail("no gradient reaches the logits")
        expect_close(grad, leaf.grad, "the gradient with respect to the logits", case=case, **TOL)


def test_greedy_decode(student, ref, gen):
    E, H, A, B, max_len = 5, 8, 6, 24, 9
    for seed in (1, 2):
        model = randomize(ref.seq2seq.Seq2Seq(V, E, H, A), gen, scale=1.0)
        with torch.no_grad():
            model.decoder.out.bias[EOS] += 1.5  # rows end at different steps; some never do
        src, _ = reversal_batch(seed, B, 1, 6)
        obj = student.obj(f"{toys.__name__}.GraderSeq2Seq", V, E, H, A, state_dict=state_of(model), dtype=torch.float64)
        got = student.call("seq2seq.greedy_decode", obj, src, max_len)["outputs"]
        got = expect_tensor(got, "greedy_decode's output", shape=(B, max_len), dtype=torch.long)
        expected = ref.seq2seq.greedy_decode(model, src, max_len)
        ended = (expected == EOS).any(dim=1)
        assert ended.any() and not ended.all(), "the grader's model should end some rows and not others"
        if not torch.equal(got, expected):
            row, t = (got != expected).nonzero()[0].tolist()
            after_eos = (expected[row, :t] == EOS).any().item()
            if after_eos:
                fail(f"after a row's EOS every later token should be PAD (row {row}, step {t})")
            fail(f"greedy_decode's token {t} of row {row} differs from the reference's (feed back each argmax)")


def test_train_seq2seq(student, ref, device):
    model = student.obj("seq2seq.Seq2Seq", V, **SIZES)
    answer = student.call("seq2seq.train_seq2seq", model, **TRAIN, seed=29, device=device, watch=False)
    reference = ref.seq2seq.Seq2Seq(V, **SIZES)
    state = expect_state_dict(answer["outputs"], reference.state_dict(), "train_seq2seq's returned model")
    reference.load_state_dict({k: v.float().cpu() for k, v in state.items()})
    src, tgt = toys.make_reversal_batch(HELD_OUT, TRAIN["min_len"], TRAIN["max_len"], TRAIN["n_digits"],
                                        torch.Generator().manual_seed(7102))  # fmt: skip
    pred = ref.seq2seq.greedy_decode(reference, src, tgt.shape[1] - 1)
    accuracy = (pred == tgt[:, 1:]).all(dim=1).double().mean().item()
    if not accuracy >= ACCURACY_TARGET:
        fail(
            f"after {TRAIN['steps']} steps the model reverses {accuracy:.1%} of held-out sequences exactly "
            f"(needs {ACCURACY_TARGET:.0%})"
        )
