"""Hidden checks for reward_model.py: the scalar head on the last non-padding token, the ranking loss, training.

train_reward_model trains, in the submission's process, the submission's
RewardModel started from the grader's weights, on pairs the grader makes;
the trained weights come back (nn.Module.apply with week9_toys.Fit) and are
judged in the REFERENCE RewardModel on the grader's held-out pairs.
"""

import torch
from torch.nn import functional as F

from coursekit.grading import week9_toys as toys
from coursekit.grading.checks import expect_close, expect_state_dict, expect_tensor, fail

RM_STEPS = 60
HELD_OUT = 2000
ACCURACY_TARGET = 0.95  # held-out pairs ranked right; the reference: 99.9%
TOL = dict(atol=1e-10, rtol=1e-8)


def config_obj(student):
    return student.obj("toy.LMConfig", **toys.lm_fields())


def reference_model(ref, seed, dtype=torch.float32, scale=1.0):
    torch.manual_seed(seed)
    model = ref.reward_model.RewardModel(ref.toy.LMConfig()).to(dtype)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
    return model


def state_of(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def padded_rows(gen, n, T, min_len=1):
    """n rows of random non-PAD tokens, right-padded to T; lengths from min_len to T (both ends included)."""
    lengths = torch.randint(min_len, T + 1, (n,), generator=gen)
    lengths[0], lengths[-1] = T, min_len
    ids = torch.randint(toys.PAD, (n, T), generator=gen)  # tokens 0..PAD-1: digits and SEP
    return ids.masked_fill(torch.arange(T) >= lengths[:, None], toys.PAD), lengths


def test_rm_structure(student, ref):
    expected = reference_model(ref, 0).state_dict()
    answer = student.module("reward_model.RewardModel", (config_obj(student),), None, call=False, return_state=True)
    got = answer.get("state_dict") or {}
    missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    if missing or extra:
        fail(f"RewardModel's parameters differ from the spec's: missing {missing[:3]}, unexpected {extra[:3]}")
    for k, v in expected.items():
        if tuple(got[k].shape) != tuple(v.shape):
            fail(f"RewardModel's {k} has shape {tuple(got[k].shape)}, expected {tuple(v.shape)}")


def test_rm_last_token(student, ref, gen):
    model = reference_model(ref, 9201, torch.float64, scale=20.0)  # large weights: every position reads differently
    state = state_of(model)
    for n, T in ((6, toys.LMConfig().block_size), (5, 7), (4, 3), (3, 1)):
        ids, lengths = padded_rows(gen, n, T)
        with torch.no_grad():
            expected = model(ids)
        answer = student.module("reward_model.RewardModel", (config_obj(student),), None, ids, state_dict=state,
                                dtype=torch.float64)  # fmt: skip
        got = expect_tensor(answer["outputs"], "RewardModel's output", shape=(n,), dtype=torch.float64)
        expect_close(got, expected, "the rewards", case=f"right-padded rows of length {lengths.tolist()}", **TOL)
        if T < toys.LMConfig().block_size:  # more padding changes nothing
            more = torch.cat([ids, torch.full((n, toys.LMConfig().block_size - T), toys.PAD)], 1)
            again = student.module("reward_model.RewardModel", (config_obj(student),), None, more, state_dict=state,
                                   dtype=torch.float64)["outputs"]  # fmt: skip
            again = expect_tensor(again, "RewardModel's output", shape=(n,))
            expect_close(again, expected, "the rewards", case="the same rows with more padding after them", **TOL)


def test_ranking_loss(student, gen):
    cases = []
    for dtype in (torch.float64, torch.float32):
        chosen = torch.randn(9, generator=gen, dtype=torch.float64) * 3
        rejected = torch.randn(9, generator=gen, dtype=torch.float64) * 3
        cases.append((chosen.to(dtype), rejected.to(dtype), "random rewards"))
    same = torch.randn(4, generator=gen, dtype=torch.float64)
    cases.append((same, same.clone(), "ties"))
    for dtype in (torch.float32, torch.float64):  # margins where sigma underflows: use F.logsigmoid
        chosen = torch.tensor([-100.0, 100.0, 3.0, -600.0], dtype=dtype)
        rejected = torch.tensor([100.0, -100.0, 3.0, 600.0], dtype=dtype)
        cases.append((chosen, rejected, f"margins of -200, 200 and -1200 in {dtype}"))
    for chosen, rejected, case in cases:
        dtype = chosen.dtype
        upstream = torch.tensor(0.7, dtype=dtype)
        answer = student.call(
            "reward_model.ranking_loss", chosen, rejected, grad_wrt=["args.0", "args.1"], upstream=[upstream]
        )
        loss = expect_tensor(answer["outputs"], "ranking_loss", shape=(), dtype=dtype)
        c, r = chosen.double().requires_grad_(True), rejected.double().requires_grad_(True)
        expected = -F.logsigmoid(c - r).mean()
        (expected * upstream.double()).backward()
        tol = TOL if dtype == torch.float64 else dict(atol=1e-5, rtol=1e-5)
        expect_close(loss, expected.detach(), "ranking_loss", case=case, **tol)
        grads = answer.get("grads", {})
        for path, leaf, name in (("args.0", c, "chosen"), ("args.1", r, "rejected")):
            if grads.get(path) is None:
                fail(f"no gradient reaches the {name} rewards")
            expect_close(
                grads[path], leaf.grad, f"gradient of ranking_loss with respect to the {name} rewards", case=case, **tol
            )


def test_preference_accuracy(student, ref, gen):
    model = reference_model(ref, 9202, scale=5.0)
    state = state_of(model)
    data = toys.sample_preferences(300, gen)
    chosen, rejected = data["chosen"], data["rejected"].clone()
    rejected[:40] = chosen[:40]  # ties are not ranked right
    model.eval()
    with torch.no_grad():
        expected = (model(chosen) > model(rejected)).float().mean().item()
    config = student.obj(toys.__name__ + ".LMConfig", **toys.lm_fields())
    obj = student.obj(toys.__name__ + ".RewardModel", config, state_dict=state, mode="train")  # the grader's own model
    got = student.call("reward_model.preference_accuracy", obj, chosen, rejected)["outputs"]
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if not isinstance(got, float):
        fail(f"preference_accuracy should return a float, got {type(got).__name__}")
    if abs(got - expected) > 1e-6:
        fail(f"preference_accuracy gave {got:.4f}, expected {expected:.4f} (ties count as wrong)")


def reference_rm_steps(ref, state, chosen, rejected, steps, lr):
    model = ref.reward_model.RewardModel(ref.toy.LMConfig()).double()
    model.load_state_dict(state)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    losses = []
    for _ in range(steps):
        loss = -F.logsigmoid(model(chosen) - model(rejected)).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def test_train_rm_steps(student, ref, gen):
    state = state_of(reference_model(ref, 9203, torch.float64, scale=3.0))
    data = toys.sample_preferences(2, gen)
    for i in range(2):
        chosen, rejected = data["chosen"][i : i + 1], data["rejected"][i : i + 1]
        obj = student.obj("reward_model.RewardModel", config_obj(student), state_dict=state, dtype=torch.float64)
        kwargs = dict(steps=3, lr=0.01, batch_size=4, generator=student.obj(toys.__name__ + ".generator", 5))
        losses = student.call("reward_model.train_reward_model", obj, chosen, rejected, **kwargs)["outputs"]
        if not isinstance(losses, list) or len(losses) != 3 or not all(isinstance(x, float) for x in losses):
            fail("train_reward_model should return the list of its steps' losses, as floats")
        expected = reference_rm_steps(ref, state, chosen, rejected, 3, 0.01)
        expect_close(torch.tensor(losses), torch.tensor(expected), "train_reward_model's losses", atol=1e-7, rtol=1e-6,
                     case="3 steps of AdamW on one padded pair, a float64 model")  # fmt: skip


def test_train_reward_model(student, ref, device):
    data = toys.sample_preferences(2000, torch.Generator().manual_seed(9211))
    state = state_of(reference_model(ref, 9212))
    fit = student.obj(toys.__name__ + ".Fit", "reward_model.train_reward_model", "RewardModel", data["chosen"],
                      data["rejected"], steps=RM_STEPS, lr=3e-3, batch_size=64, device=device,
                      generator=student.obj(toys.__name__ + ".generator", 9213))  # fmt: skip
    answer = student.module("reward_model.RewardModel", (config_obj(student),), None, state_dict=state,
                            steps=[{"method": "apply", "args": [fit]}], watch=False)  # fmt: skip
    model = ref.reward_model.RewardModel(ref.toy.LMConfig())
    trained = expect_state_dict(
        answer["steps"][0]["outputs"], model.state_dict(), "the reward model train_reward_model trained"
    )
    model.load_state_dict({k: v.float().cpu() for k, v in trained.items()})
    model.eval()
    held = toys.sample_preferences(HELD_OUT, torch.Generator().manual_seed(9214))
    with torch.no_grad():
        accuracy = (model(held["chosen"]) > model(held["rejected"])).float().mean().item()
    if not accuracy >= ACCURACY_TARGET:
        fail(
            f"after {RM_STEPS} steps the reward model ranks {accuracy:.1%} of held-out pairs right (needs {ACCURACY_TARGET:.0%})"
        )
