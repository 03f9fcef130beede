"""Hidden checks for sft.py: the batch, the loss on the response tokens only, and training judged on the reference model.

train_sft trains, in the submission's process, a TinyGPT the grader builds
(its own initial weights) on demonstrations the grader makes; the model's
trained weights come back (nn.Module.apply with week9_toys.Fit) and are
scored here, in the reference TinyGPT, on the grader's held-out prompts.
"""

import torch
from torch.nn import functional as F

from coursekit.grading import week9_toys as toys
from coursekit.grading.checks import expect_close, expect_state_dict, expect_tensor, fail

SFT_STEPS = 100
HELD_OUT = 1000
ACCURACY_TARGET = 0.95  # response tokens predicted right (teacher forcing); the reference: 100%
TOL = dict(atol=1e-10, rtol=1e-8)


def random_lists(gen, n, low, high, vocab=toys.VOCAB_SIZE - 1):
    lengths = torch.randint(low, high + 1, (n,), generator=gen).tolist()
    return [torch.randint(vocab, (k,), generator=gen).tolist() for k in lengths]


def expected_batch(prompts, responses, pad_id):
    T = max(len(p) + len(r) for p, r in zip(prompts, responses))
    ids = torch.full((len(prompts), T), pad_id)
    labels = torch.full((len(prompts), T), -100)
    for b, (p, r) in enumerate(zip(prompts, responses)):
        ids[b, : len(p) + len(r)] = torch.tensor(p + r)
        labels[b, len(p) : len(p) + len(r)] = torch.tensor(r)
    return ids, labels


def test_sft_batch(student, gen):
    cases = [(5, 1, 6, 1, 6, toys.PAD), (1, 3, 3, 2, 2, toys.PAD), (7, 1, 1, 1, 5, toys.PAD), (6, 2, 5, 1, 4, 0)]
    for n, p_lo, p_hi, r_lo, r_hi, pad_id in cases:
        prompts, responses = random_lists(gen, n, p_lo, p_hi), random_lists(gen, n, r_lo, r_hi)
        out = student.call("sft.make_sft_batch", prompts, responses, pad_id=pad_id)["outputs"]
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            fail("make_sft_batch should return (ids, labels)")
        ids_e, labels_e = expected_batch(prompts, responses, pad_id)
        ids = expect_tensor(out[0], "ids", shape=ids_e.shape, dtype=torch.long)
        labels = expect_tensor(out[1], "labels", shape=labels_e.shape, dtype=torch.long)
        case = f"{n} rows, pad_id {pad_id}"
        if not torch.equal(ids, ids_e):
            fail(f"ids should be prompt + response, right-padded with pad_id to the longest row [{case}]")
        if not torch.equal(labels, labels_e):
            wrong = (labels != labels_e).nonzero()[0].tolist()
            b, t = wrong
            where = (
                "a prompt"
                if t < len(prompts[b])
                else ("a response" if t < len(prompts[b]) + len(responses[b]) else "a padding")
            )
            fail(
                f"labels are wrong at {where} position: labels hold the response tokens, unshifted, and -100 elsewhere [{case}]"
            )


def test_sft_loss(student, gen):
    cases = [(4, 9, 13, torch.float64), (3, 6, 7, torch.float32), (1, 5, 12, torch.float64)]
    for B, T, V, dtype in cases:
        logits = torch.randn(B, T, V, generator=gen, dtype=torch.float64).mul(3).to(dtype)
        labels = torch.randint(V, (B, T), generator=gen)
        # rows with very different numbers of labelled tokens: a token mean is not a mean of row means
        for b in range(B):
            start = int(torch.randint(1, T - 1, (), generator=gen))
            stop = int(torch.randint(start + 1, T + 1, (), generator=gen)) if b % 2 == 0 else start + 1
            labels[b, :start] = -100
            labels[b, stop:] = -100
        upstream = torch.tensor(1.3, dtype=dtype)
        answer = student.call("sft.sft_loss", logits, labels, grad_wrt=["args.0"], upstream=[upstream])
        loss = expect_tensor(answer["outputs"], "sft_loss", shape=(), dtype=dtype)
        leaf = logits.double().requires_grad_(True)
        expected = F.cross_entropy(leaf[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1), ignore_index=-100)
        tol = TOL if dtype == torch.float64 else dict(atol=1e-5, rtol=1e-5)
        case = f"B={B}, T={T}, {dtype}"
        expect_close(loss, expected.detach(), "sft_loss", case=case, **tol)
        (expected * upstream.double()).backward()
        grad = answer.get("grads", {}).get("args.0")
        if grad is None:
            fail("no gradient reaches the logits")
        expect_close(grad, leaf.grad, "gradient of sft_loss with respect to the logits", case=case, **tol)


def model_obj(student, state, dtype=None):
    return student.obj(toys.__name__ + ".TinyGPT", student.obj(toys.__name__ + ".LMConfig", **toys.lm_fields()),
                       state_dict=state, dtype=dtype)  # fmt: skip


def initial_state(seed):
    torch.manual_seed(seed)
    return {k: v.detach().clone() for k, v in toys.TinyGPT(toys.LMConfig()).state_dict().items()}


def reference_steps(state, ids, labels, steps, lr):
    """The spec's loop on one row, in float64: AdamW(lr, weight_decay=0), the loss on the response tokens."""
    model = toys.TinyGPT(toys.LMConfig()).double()
    model.load_state_dict(state)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    losses = []
    for _ in range(steps):
        logits = model(ids)
        loss = F.cross_entropy(
            logits[:, :-1].reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1), ignore_index=-100
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def test_train_sft_steps(student):
    state = initial_state(9101)
    for prompt, response in (([3, 1, 4, 1, toys.SEP], [3, 1, 4]), ([2, 7, toys.SEP], [9, 9, 2, 7, 1])):
        ids, labels = expected_batch([prompt], [response], toys.PAD)
        ids = torch.cat([ids, torch.full((1, 2), toys.PAD)], 1)  # padding after the response
        labels = torch.cat([labels, torch.full((1, 2), -100)], 1)
        kwargs = dict(steps=3, lr=0.01, batch_size=4, generator=student.obj(toys.__name__ + ".generator", 5))
        answer = student.call("sft.train_sft", model_obj(student, state, torch.float64), ids, labels, **kwargs)
        losses = answer["outputs"]
        if not isinstance(losses, list) or len(losses) != 3 or not all(isinstance(x, float) for x in losses):
            fail("train_sft should return the list of its steps' losses, as floats")
        expected = reference_steps(state, ids, labels, 3, 0.01)
        expect_close(torch.tensor(losses), torch.tensor(expected), "train_sft's losses", atol=1e-7, rtol=1e-6,
                     case="3 steps of AdamW on one padded demonstration, a float64 model")  # fmt: skip


def test_train_sft(student, ref, device):
    prompts, responses = toys.sample_demonstrations(3000, torch.Generator().manual_seed(9111))
    ids, labels = expected_batch(prompts, responses, toys.PAD)
    state = initial_state(9112)
    fit = student.obj(toys.__name__ + ".Fit", "sft.train_sft", "TinyGPT", ids, labels, steps=SFT_STEPS,
                      lr=3e-3, batch_size=64, device=device, generator=student.obj(toys.__name__ + ".generator", 9113))  # fmt: skip
    answer = student.module("toy.TinyGPT", (student.obj("toy.LMConfig", **toys.lm_fields()),), None, state_dict=state,
                            steps=[{"method": "apply", "args": [fit]}], watch=False)  # fmt: skip
    model = ref.toy.TinyGPT(ref.toy.LMConfig())
    trained = expect_state_dict(answer["steps"][0]["outputs"], model.state_dict(), "the model train_sft trained")
    model.load_state_dict({k: v.float().cpu() for k, v in trained.items()})
    model.eval()
    prompts, responses = toys.sample_demonstrations(HELD_OUT, torch.Generator().manual_seed(9114))
    ids, labels = expected_batch(prompts, responses, toys.PAD)
    with torch.no_grad():
        predictions = model(ids)[:, :-1].argmax(-1)
    targets = labels[:, 1:]
    labelled = targets != -100
    accuracy = (predictions[labelled] == targets[labelled]).float().mean().item()
    if not accuracy >= ACCURACY_TARGET:
        fail(
            f"after {SFT_STEPS} steps the model predicts {accuracy:.1%} of held-out response tokens (needs {ACCURACY_TARGET:.0%})"
        )
