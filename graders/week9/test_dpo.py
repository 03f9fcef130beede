"""Hidden checks for dpo.py: the sequence log-probabilities, the DPO loss, and DPO training.

train_dpo trains, in the submission's process, a TinyGPT policy the grader
builds, against the grader's frozen reference, on preference pairs the grader
makes; the policy's trained weights come back (nn.Module.apply with
week9_toys.Fit) and are judged here as PPO's are: responses the grader
samples from the REFERENCE TinyGPT loaded with them must score higher, with a
bounded KL to the reference.
"""

import math

import torch
from torch.nn import functional as F

from coursekit.grading import week9_toys as toys
from coursekit.grading.checks import expect_close, expect_state_dict, expect_tensor, fail

TOL = dict(atol=1e-10, rtol=1e-8)
DPO_STEPS = 60
DPO_BETA = 0.1
SCORE_TARGET = 4.0  # the reference: 4.5-5.0, from 2.5 at the start
KL_BOUND = 4.0  # the reference: 2.0-2.6 nats per response
HELD_OUT = 2000


def seq_logps(logits, labels, mask):
    logp = F.log_softmax(logits, dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    return (logp * mask.to(logp.dtype)).sum(-1)


def test_sequence_logprobs(student, gen):
    for B, T, V, as_bool in ((4, 7, 12, True), (3, 5, 9, False), (1, 1, 4, True)):
        logits = torch.randn(B, T, V, generator=gen, dtype=torch.float64) * 3
        labels = torch.randint(V, (B, T), generator=gen)
        mask = torch.rand(B, T, generator=gen) < 0.6
        mask[0, -1] = True
        mask = mask if as_bool else mask.long()
        upstream = torch.randn(B, generator=gen, dtype=torch.float64)
        answer = student.call("dpo.sequence_logprobs", logits, labels, mask, grad_wrt=["args.0"], upstream=[upstream])
        got = expect_tensor(answer["outputs"], "sequence_logprobs", shape=(B,), dtype=torch.float64)
        leaf = logits.clone().requires_grad_(True)
        expected = seq_logps(leaf, labels, mask)
        case = f"B={B}, T={T}, a {'bool' if as_bool else '0/1 long'} mask"
        expect_close(got, expected.detach(), "sequence_logprobs", case=case, **TOL)
        (expected * upstream).sum().backward()
        grad = answer.get("grads", {}).get("args.0")
        if grad is None:
            fail("no gradient reaches the logits")
        expect_close(grad, leaf.grad, "gradient of sequence_logprobs with respect to the logits", case=case, **TOL)


def run_dpo_loss(student, gen, inputs, beta, case, dtype=torch.float64):
    inputs = [x.to(dtype) for x in inputs]
    B = inputs[0].shape[0]
    upstream = [torch.tensor(1.3, dtype=dtype)]
    upstream += [torch.randn(B, generator=gen, dtype=dtype) for _ in range(2)]
    answer = student.call(
        "dpo.dpo_loss", *inputs, beta=beta, grad_wrt=["args.0", "args.1", "args.2", "args.3"], upstream=upstream
    )
    out = answer["outputs"]
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        fail("dpo_loss should return (loss, chosen_rewards, rejected_rewards)")
    loss = expect_tensor(out[0], "the DPO loss", shape=(), dtype=dtype)
    chosen = expect_tensor(out[1], "chosen_rewards", shape=(B,), dtype=dtype)
    rejected = expect_tensor(out[2], "rejected_rewards", shape=(B,), dtype=dtype)
    leaves = [x.double().requires_grad_(True) for x in inputs]
    pc, pr, rc, rr = leaves
    expected = -F.logsigmoid(beta * ((pc - rc) - (pr - rr))).mean()
    tol = TOL if dtype == torch.float64 else dict(atol=1e-5, rtol=1e-5)
    expect_close(loss, expected.detach(), "the DPO loss", case=case, **tol)
    expect_close(chosen, beta * (pc - rc).detach(), "chosen_rewards", case=case, **tol)
    expect_close(rejected, beta * (pr - rr).detach(), "rejected_rewards", case=case, **tol)
    (expected * upstream[0].double()).backward()  # the rewards are detached: only the loss has a gradient
    grads = answer.get("grads", {})
    for i, (leaf, name) in enumerate(
        zip(leaves, ("policy_chosen", "policy_rejected", "reference_chosen", "reference_rejected"))
    ):
        got = grads.get(f"args.{i}")
        if got is None:
            fail(f"no gradient reaches {name}_logps")
        expect_close(got, leaf.grad, f"gradient with respect to {name}_logps (rewards detached)", case=case, **tol)


def test_dpo_loss(student, gen):
    for B, beta in ((6, 0.1), (5, 0.5), (4, 2.0)):
        inputs = [torch.randn(B, generator=gen, dtype=torch.float64) * 4 - 10 for _ in range(4)]
        run_dpo_loss(student, gen, inputs, beta, f"random log-probabilities, beta={beta}")
    inputs = [torch.randn(5, generator=gen, dtype=torch.float64) * 4 - 10 for _ in range(4)]
    run_dpo_loss(student, gen, inputs, 0.3, "float32, beta=0.3", dtype=torch.float32)
    same = torch.randn(4, generator=gen, dtype=torch.float64) - 5
    answer = student.call("dpo.dpo_loss", same, same.clone(), same.clone(), same.clone(), beta=0.1)["outputs"]
    loss = expect_tensor(answer[0] if isinstance(answer, (tuple, list)) else answer, "the DPO loss", shape=())
    expect_close(
        loss,
        torch.tensor(math.log(2), dtype=torch.float64),
        "the DPO loss",
        case="policy equal to the reference: log 2",
        **TOL,
    )
    big = [
        torch.tensor([-2000.0, -10.0]),
        torch.tensor([-10.0, -2000.0]),
        torch.tensor([-10.0, -10.0]),
        torch.tensor([-10.0, -10.0]),
    ]
    run_dpo_loss(student, gen, [x.double() for x in big], 0.5, "margins of -995 and 995 (stable log-sigmoid)")


def initial_state(seed, scale=1.0):
    torch.manual_seed(seed)
    model = toys.TinyGPT(toys.LMConfig())
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def reference_dpo_steps(policy_state, ref_state, pair, beta, steps, lr):
    policy, reference = toys.TinyGPT(toys.LMConfig()).double(), toys.TinyGPT(toys.LMConfig()).double()
    policy.load_state_dict(policy_state)
    reference.load_state_dict(ref_state)
    optimizer = torch.optim.Adam(policy.parameters(), lr=lr)

    def logps(model, ids, mask):
        return seq_logps(model(ids)[:, :-1], ids[:, 1:], mask[:, 1:])

    losses = []
    for _ in range(steps):
        with torch.no_grad():
            rc, rr = (
                logps(reference, pair["chosen"], pair["chosen_mask"]),
                logps(reference, pair["rejected"], pair["rejected_mask"]),
            )
        pc, pr = (
            logps(policy, pair["chosen"], pair["chosen_mask"]),
            logps(policy, pair["rejected"], pair["rejected_mask"]),
        )
        loss = -F.logsigmoid(beta * ((pc - rc) - (pr - rr))).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def test_train_dpo_steps(student, gen):
    toy = toys.__name__
    policy_state, ref_state = initial_state(9401, scale=8.0), initial_state(9402, scale=8.0)  # the policy starts apart
    data = toys.sample_preferences(2, gen)
    for i, beta in ((0, 0.1), (1, 0.7)):
        pair = {k: v[i : i + 1] for k, v in data.items()}
        config = student.obj(toy + ".LMConfig", **toys.lm_fields())
        policy = student.obj(toy + ".TinyGPT", config, state_dict=policy_state, dtype=torch.float64)
        reference = student.obj(toy + ".TinyGPT", config, state_dict=ref_state, dtype=torch.float64)
        kwargs = dict(beta=beta, steps=3, lr=0.01, batch_size=4, generator=student.obj(toy + ".generator", 5))
        args = (pair["chosen"], pair["rejected"], pair["chosen_mask"], pair["rejected_mask"])
        losses = student.call("dpo.train_dpo", policy, reference, *args, **kwargs)["outputs"]
        if not isinstance(losses, list) or len(losses) != 3 or not all(isinstance(x, float) for x in losses):
            fail("train_dpo should return the list of its steps' losses, as floats")
        expected = reference_dpo_steps(policy_state, ref_state, pair, beta, 3, 0.01)
        expect_close(torch.tensor(losses), torch.tensor(expected), "train_dpo's losses", atol=1e-7, rtol=1e-6,
                     case=f"3 steps of Adam on one padded pair, beta={beta}, a float64 policy and reference")  # fmt: skip


def test_train_dpo(student, ref, device):
    toy = toys.__name__
    state = initial_state(9411)
    data = toys.sample_preferences(2000, torch.Generator().manual_seed(9412))
    fit = student.obj(
        toy + ".Fit", "dpo.train_dpo", "TinyGPT",
        student.obj(toy + ".TinyGPT", student.obj(toy + ".LMConfig", **toys.lm_fields()), state_dict=state),
        data["chosen"], data["rejected"], data["chosen_mask"], data["rejected_mask"], beta=DPO_BETA,
        steps=DPO_STEPS, lr=1e-3, batch_size=32, device=device, generator=student.obj(toy + ".generator", 9413),
    )  # fmt: skip
    answer = student.module("toy.TinyGPT", (student.obj("toy.LMConfig", **toys.lm_fields()),), None, state_dict=state,
                            steps=[{"method": "apply", "args": [fit]}], watch=False)  # fmt: skip
    policy = ref.toy.TinyGPT(ref.toy.LMConfig())
    trained = expect_state_dict(answer["steps"][0]["outputs"], policy.state_dict(), "the policy train_dpo trained")
    policy.load_state_dict({k: v.float().cpu() for k, v in trained.items()})
    toys.judge_policy(policy, state, f"after {DPO_STEPS} DPO steps", SCORE_TARGET, KL_BOUND, HELD_OUT)
