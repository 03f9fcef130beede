"""Hidden checks for ppo.py: the KL penalty, shaped rewards, GAE, whitening, the clipped losses, and RLHF with PPO.

Each function is compared, in float64, with the formulas of its docstring
written out here, on random inputs and on the edge cases that tell the
classic bugs apart: episodes that end inside a rollout, ratios outside the
clip range on either side with advantages of either sign, padding.

train_ppo trains, in the submission's process, a TinyGPT policy the grader
builds, against the grader's frozen reference and the labeler's score; the
policy's trained weights come back (nn.Module.apply with week9_toys.Fit) and
are judged here: responses sampled by the grader from the REFERENCE TinyGPT
loaded with them, on its own held-out prompts, must score higher, and their
KL to the reference stay bounded.
"""

import torch

from coursekit.grading import week9_toys as toys
from coursekit.grading.checks import expect_close, expect_state_dict, expect_tensor, fail
from coursekit.grading.client import StudentError

TOL = dict(atol=1e-10, rtol=1e-8)
PPO_ITERATIONS = 10
PPO_BETA = 0.5  # the KL-regularised optimum scores 5.04 at a KL of 2.30 nats per response
SCORE_TARGET = 4.3  # the reference: 4.7-5.0, from 2.5 at the start
KL_BOUND = 3.0  # the reference: 1.7-2.1 nats per response
HELD_OUT = 2000


def masked_mean(x, mask):
    return (x * mask).sum() / mask.sum()


def prefix_mask(gen, B, T):
    lengths = torch.randint(1, T + 1, (B,), generator=gen)
    lengths[0] = T
    return torch.arange(T) < lengths[:, None]


def test_kl_penalty(student, gen):
    logp = torch.randn(4, 7, generator=gen, dtype=torch.float64) - 2
    ref_logp = torch.randn(4, 7, generator=gen, dtype=torch.float64) - 2
    log_r = ref_logp - logp
    expected = {"k1": -log_r, "k2": 0.5 * log_r**2, "k3": log_r.exp() - 1 - log_r}
    for kind, value in expected.items():
        got = student.call("ppo.kl_penalty", logp, ref_logp, kind=kind)["outputs"]
        got = expect_tensor(got, f"kl_penalty(kind={kind!r})", shape=logp.shape, dtype=torch.float64)
        expect_close(got, value, f"kl_penalty(kind={kind!r})", case="log r = ref_logprobs - logprobs", **TOL)
    default = student.call("ppo.kl_penalty", logp, ref_logp)["outputs"]
    expect_close(expect_tensor(default, "kl_penalty"), expected["k1"], "kl_penalty with the default kind (k1)", **TOL)
    try:
        student.call("ppo.kl_penalty", logp, ref_logp, kind="k4")
    except StudentError as exc:  # the submission's ValueError comes back as a StudentError
        if "ValueError" not in str(exc):
            fail(f"kl_penalty(kind='k4') should raise ValueError, got: {exc}")
    else:
        fail("kl_penalty(kind='k4') should raise ValueError")


def test_shaped_rewards(student, gen):
    for B, T, beta in ((5, 6, 0.1), (4, 9, 0.5), (1, 1, 2.0)):
        scores = torch.randn(B, generator=gen, dtype=torch.float64) * 3
        kl = torch.randn(B, T, generator=gen, dtype=torch.float64)
        mask = prefix_mask(gen, B, T)
        expected = -beta * kl * mask
        last = mask.sum(1) - 1
        expected[torch.arange(B), last] += scores
        got = student.call("ppo.shaped_rewards", scores, kl, mask, beta)["outputs"]
        got = expect_tensor(got, "shaped_rewards", shape=(B, T), dtype=torch.float64)
        expect_close(got, expected, "shaped_rewards", case=f"B={B}, T={T}, beta={beta}, right-padded rows", **TOL)


def gae_reference(rewards, values, dones, next_value, gamma, lam):
    B, T = rewards.shape
    adv = torch.zeros_like(rewards)
    for b in range(B):
        a = 0.0
        for t in reversed(range(T)):
            if dones[b, t]:
                v_next, a = 0.0, 0.0
            else:
                v_next = next_value[b] if t == T - 1 else values[b, t + 1]
            delta = rewards[b, t] + gamma * v_next - values[b, t]
            a = delta + gamma * lam * a
            adv[b, t] = a
    return adv, adv + values


def run_gae(student, rewards, values, dones, next_value, gamma, lam, case):
    B, T = rewards.shape
    out = student.call("ppo.gae", rewards, values, dones, next_value, gamma=gamma, lam=lam)["outputs"]
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail("gae should return (advantages, returns)")
    adv_e, ret_e = gae_reference(rewards, values, dones, next_value, gamma, lam)
    adv = expect_tensor(out[0], "advantages", shape=(B, T), dtype=torch.float64)
    ret = expect_tensor(out[1], "returns", shape=(B, T), dtype=torch.float64)
    expect_close(adv, adv_e, "the advantages", case=case, **TOL)
    expect_close(ret, ret_e, "the returns", case=case, **TOL)


def test_gae(student, gen):
    for B, T, gamma, lam in (
        (4, 6, 1.0, 0.95),
        (3, 8, 0.9, 0.8),
        (2, 5, 0.99, 0.0),
        (3, 7, 0.97, 1.0),
        (2, 1, 0.9, 0.5),
    ):
        rewards = torch.randn(B, T, generator=gen, dtype=torch.float64)
        values = torch.randn(B, T, generator=gen, dtype=torch.float64)
        dones = torch.zeros(B, T, dtype=torch.bool)
        dones[:, -1] = True  # one episode per row, as a response
        next_value = torch.randn(B, generator=gen, dtype=torch.float64)  # must not be used
        run_gae(
            student, rewards, values, dones, next_value, gamma, lam, f"one episode per row, gamma={gamma}, lambda={lam}"
        )


def test_gae_episode_boundaries(student, gen):
    for B, T, gamma, lam in ((4, 10, 0.99, 0.95), (3, 7, 1.0, 0.9), (2, 6, 0.9, 1.0)):
        rewards = torch.randn(B, T, generator=gen, dtype=torch.float64)
        values = torch.randn(B, T, generator=gen, dtype=torch.float64) * 2
        dones = torch.rand(B, T, generator=gen) < 0.3
        dones[0, -1] = False  # an unfinished episode: bootstrap from next_value
        dones[0, T // 2] = True  # and one that ends inside the rollout
        dones[-1, -1] = True
        next_value = torch.randn(B, generator=gen, dtype=torch.float64) * 3
        run_gae(student, rewards, values, dones, next_value, gamma, lam,
                f"episodes ending inside the rollout and one left unfinished, gamma={gamma}, lambda={lam}")  # fmt: skip


def test_whiten(student, gen):
    for B, T in ((4, 6), (3, 9)):
        x = torch.randn(B, T, generator=gen, dtype=torch.float64) * 4 + 3
        mask = prefix_mask(gen, B, T)
        x[~mask] = 1000.0  # padding: must not count
        mean = masked_mean(x, mask)
        var = masked_mean((x - mean) ** 2, mask)
        expected = (x - mean) / torch.sqrt(var + 1e-8) * mask
        got = student.call("ppo.whiten", x, mask)["outputs"]
        got = expect_tensor(got, "whiten", shape=(B, T), dtype=torch.float64)
        expect_close(got, expected, "whiten", case="statistics over the masked positions, the biased variance", **TOL)


def surrogate_reference(logp, old, adv, mask, eps):
    ratio = torch.exp(logp - old)
    return -masked_mean(torch.min(ratio * adv, torch.clamp(ratio, 1 - eps, 1 + eps) * adv), mask)


def run_policy_loss(student, logp, old, adv, mask, eps, case):
    upstream = torch.tensor(1.5, dtype=torch.float64)
    answer = student.call(
        "ppo.policy_loss", logp, old, adv, mask, clip_eps=eps, grad_wrt=["args.0"], upstream=[upstream]
    )
    loss = expect_tensor(answer["outputs"], "policy_loss", shape=(), dtype=torch.float64)
    leaf = logp.clone().requires_grad_(True)
    expected = surrogate_reference(leaf, old, adv, mask, eps)
    expect_close(loss, expected.detach(), "policy_loss", case=case, **TOL)
    (expected * upstream).backward()
    grad = answer.get("grads", {}).get("args.0")
    if grad is None:
        fail("no gradient reaches the log-probabilities")
    expect_close(grad, leaf.grad, "gradient of policy_loss with respect to logprobs", case=case, **TOL)
    return grad


def away_from_edges(log_ratio, eps, gap=1e-3):
    """Keep ratios at least `gap` (relative) away from 1 - eps and 1 + eps, where min and clip have a kink."""
    ratio = log_ratio.exp()
    for edge in (1 - eps, 1 + eps):
        near = (ratio - edge).abs() < gap
        ratio = torch.where(near, edge * (1 + 2 * gap), ratio)
    return ratio.log()


def test_policy_loss(student, gen):
    for B, T, eps in ((4, 8, 0.2), (3, 5, 0.1), (2, 6, 0.3)):
        old = torch.randn(B, T, generator=gen, dtype=torch.float64) - 2
        log_ratio = away_from_edges(torch.randn(B, T, generator=gen, dtype=torch.float64) * 0.4, eps)
        adv = torch.randn(B, T, generator=gen, dtype=torch.float64)
        mask = prefix_mask(gen, B, T)
        run_policy_loss(student, old + log_ratio, old, adv, mask, eps, f"random ratios around 1, eps={eps}, padding")


def test_policy_loss_clipping(student):
    eps = 0.2
    ratios = torch.tensor([1.5, 1.5, 0.5, 0.5, 1.1, 0.9, 1.1, 0.9, 1.0, 1.0], dtype=torch.float64)
    adv = torch.tensor([2.0, -2.0, 2.0, -2.0, 1.0, 1.0, -1.0, -1.0, 3.0, -3.0], dtype=torch.float64)
    clipped = torch.tensor([1, 0, 0, 1, 0, 0, 0, 0, 0, 0], dtype=torch.bool)  # where the clipped term wins the min
    old = torch.linspace(-3, -1, 10, dtype=torch.float64)
    mask = torch.ones(1, 10, dtype=torch.bool)
    grad = run_policy_loss(student, (old + ratios.log())[None], old[None], adv[None], mask, eps,
                           "ratios 1.5 and 0.5 with advantages of both signs, and ratios inside the range")[0]  # fmt: skip
    if (grad[clipped] != 0).any():
        fail("a clipped token still gets a gradient: min(rho A, clip(rho) A) is flat there")
    if (grad[~clipped] == 0).any():
        fail("a token whose ratio is inside the range (or clipped on the side that does not bind) gets no gradient")
    # ratios exactly at the edges: the value of the objective is continuous there
    edges = torch.tensor([1 + eps, 1 - eps, 1 + eps, 1 - eps], dtype=torch.float64)
    adv = torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=torch.float64)
    old = torch.zeros(4, dtype=torch.float64)
    answer = student.call(
        "ppo.policy_loss", edges.log()[None], old[None], adv[None], torch.ones(1, 4, dtype=torch.bool), clip_eps=eps
    )
    loss = expect_tensor(answer["outputs"], "policy_loss", shape=())
    expect_close(loss, surrogate_reference(edges.log()[None], old[None], adv[None], torch.ones(1, 4), eps), "policy_loss",
                 case="ratios exactly 1 - eps and 1 + eps", atol=1e-9, rtol=1e-9)  # fmt: skip


def test_value_loss(student, gen):
    for B, T, clip in ((4, 7, None), (3, 6, 0.2), (2, 5, 0.5)):
        values = torch.randn(B, T, generator=gen, dtype=torch.float64)
        old = values + torch.randn(B, T, generator=gen, dtype=torch.float64) * 0.5
        returns = torch.randn(B, T, generator=gen, dtype=torch.float64)
        mask = prefix_mask(gen, B, T)
        upstream = torch.tensor(0.8, dtype=torch.float64)
        answer = student.call(
            "ppo.value_loss", values, old, returns, mask, clip_eps=clip, grad_wrt=["args.0"], upstream=[upstream]
        )
        loss = expect_tensor(answer["outputs"], "value_loss", shape=(), dtype=torch.float64)
        leaf = values.clone().requires_grad_(True)
        error = (leaf - returns) ** 2
        if clip is not None:
            v_clip = old + torch.clamp(leaf - old, -clip, clip)
            error = torch.max(error, (v_clip - returns) ** 2)
        expected = 0.5 * masked_mean(error, mask)
        case = "no clipping" if clip is None else f"clip_eps={clip}"
        expect_close(loss, expected.detach(), "value_loss", case=case, **TOL)
        (expected * upstream).backward()
        grad = answer.get("grads", {}).get("args.0")
        if grad is None:
            fail("no gradient reaches the values")
        expect_close(grad, leaf.grad, "gradient of value_loss with respect to values", case=case, **TOL)


def test_train_ppo(student, ref, device):
    toy = toys.__name__
    config = student.obj(toy + ".LMConfig", **toys.lm_fields())
    torch.manual_seed(9301)
    start = toys.TinyGPT(toys.LMConfig())
    state = {k: v.detach().clone() for k, v in start.state_dict().items()}
    torch.manual_seed(9302)
    value_state = {k: v.detach().clone() for k, v in toys.ValueModel(toys.LMConfig()).state_dict().items()}
    prompts = toys.sample_prompts(1000, torch.Generator().manual_seed(9303))
    fit = student.obj(
        toy + ".Fit", "ppo.train_ppo", "TinyGPT",
        student.obj(toy + ".TinyGPT", config, state_dict=state),  # the reference: the policy's starting weights
        student.obj(toy + ".ValueModel", config, state_dict=value_state),
        student.obj(toy + ".Score"),
        prompts, iterations=PPO_ITERATIONS, batch_size=64, epochs=4, minibatch_size=32, beta=PPO_BETA, clip_eps=0.2,
        gamma=1.0, lam=0.95, lr=1e-3, device=device, generator=student.obj(toy + ".generator", 9304),
    )  # fmt: skip
    answer = student.module("toy.TinyGPT", (student.obj("toy.LMConfig", **toys.lm_fields()),), None, state_dict=state,
                            steps=[{"method": "apply", "args": [fit]}], watch=False)  # fmt: skip
    policy = ref.toy.TinyGPT(ref.toy.LMConfig())
    trained = expect_state_dict(answer["steps"][0]["outputs"], policy.state_dict(), "the policy train_ppo trained")
    policy.load_state_dict({k: v.float().cpu() for k, v in trained.items()})
    toys.judge_policy(policy, state, f"after {PPO_ITERATIONS} PPO iterations", SCORE_TARGET, KL_BOUND, HELD_OUT)
