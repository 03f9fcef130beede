"""PPO pieces, written differently from the reference."""

import torch
from toy import RESPONSE_LEN, generate, token_logprobs


def kl_penalty(logprobs, ref_logprobs, kind="k1"):
    diff = logprobs - ref_logprobs  # log(pi / pi_ref)
    if kind == "k1":
        return diff
    elif kind == "k2":
        return diff * diff / 2
    elif kind == "k3":
        return torch.exp(-diff) - 1 + diff
    else:
        raise ValueError(kind)


def shaped_rewards(scores, kl, mask, beta):
    m = mask.to(kl.dtype)
    lengths = mask.long().sum(dim=1)
    at_end = torch.zeros_like(kl).scatter(1, (lengths - 1)[:, None], scores[:, None].to(kl.dtype))
    return (at_end - beta * kl) * m


def gae(rewards, values, dones, next_value, gamma=1.0, lam=0.95):
    B, T = rewards.shape
    cont = (~dones.bool()).to(rewards.dtype)
    v_next = torch.cat([values[:, 1:], next_value[:, None]], dim=1) * cont  # V(s_{t+1}), 0 after an episode's end
    deltas = rewards + gamma * v_next - values
    adv = torch.zeros_like(rewards)
    # A_t = sum_k (gamma lam)^k delta_{t+k}, stopping after the first step that ends an episode
    for t in range(T):
        total = torch.zeros(B, dtype=rewards.dtype, device=rewards.device)
        alive = torch.ones(B, dtype=rewards.dtype, device=rewards.device)
        for k in range(t, T):
            total = total + alive * (gamma * lam) ** (k - t) * deltas[:, k]
            alive = alive * cont[:, k]
        adv[:, t] = total
    return adv, adv + values


def whiten(x, mask, eps=1e-8):
    m = mask.bool()
    sel = x[m]
    mean = sel.mean()
    var = torch.var(sel, unbiased=False)
    return torch.where(m, (x - mean) / torch.sqrt(var + eps), torch.zeros_like(x))


def policy_loss(logprobs, old_logprobs, advantages, mask, clip_eps=0.2):
    ratio = (logprobs - old_logprobs).exp()
    # the pessimistic bound, case by case: A >= 0 caps the ratio above, A < 0 below
    bound = torch.where(advantages >= 0, torch.clamp(ratio, max=1 + clip_eps), torch.clamp(ratio, min=1 - clip_eps))
    objective = bound * advantages
    m = mask.to(objective.dtype)
    return -(objective * m).sum() / m.sum()


def value_loss(values, old_values, returns, mask, clip_eps=None):
    m = mask.to(values.dtype)
    sq = (values - returns).pow(2)
    if clip_eps is not None:
        clipped = torch.minimum(torch.maximum(values, old_values - clip_eps), old_values + clip_eps)
        sq = torch.maximum(sq, (clipped - returns).pow(2))
    return (sq * m).sum() / m.sum() / 2


def train_ppo(
    policy,
    reference,
    value_model,
    reward_fn,
    prompts,
    iterations=40,
    batch_size=64,
    epochs=4,
    minibatch_size=32,
    beta=0.1,
    clip_eps=0.2,
    gamma=1.0,
    lam=0.95,
    lr=1e-3,
    device="cpu",
    generator=None,
):
    policy.to(device)
    reference.to(device)
    reference.eval()
    for p in reference.parameters():
        p.requires_grad_(False)
    value_model.to(device)
    pi_opt = torch.optim.Adam(policy.parameters(), lr=lr)
    v_opt = torch.optim.Adam(value_model.parameters(), lr=lr)
    n = RESPONSE_LEN
    log = []
    for it in range(iterations):
        pick = torch.randint(len(prompts), (batch_size,), generator=generator)
        x = prompts[pick].to(device)
        start = x.shape[1] - 1
        policy.eval()
        ids = generate(policy, x, n, generator)
        with torch.no_grad():
            old = token_logprobs(policy, ids, n)
            ref = token_logprobs(reference, ids, n)
            v_old = value_model(ids)[:, start : start + n]
            r = reward_fn(ids).to(old.dtype)
        mask = torch.ones(batch_size, n, dtype=torch.bool, device=ids.device)
        kl = kl_penalty(old, ref, "k1")
        dones = torch.arange(n, device=ids.device).expand(batch_size, n) == n - 1
        adv, ret = gae(
            shaped_rewards(r, kl, mask, beta),
            v_old,
            dones,
            torch.zeros(batch_size, dtype=old.dtype, device=ids.device),
            gamma,
            lam,
        )
        adv = whiten(adv, mask)
        policy.train()
        value_model.train()
        for _ in range(epochs):
            order = torch.randperm(batch_size, generator=generator)
            for i in range(0, batch_size, minibatch_size):
                mb = order[i : i + minibatch_size].to(device)
                pl = policy_loss(token_logprobs(policy, ids[mb], n), old[mb], adv[mb], mask[mb], clip_eps)
                vl = value_loss(value_model(ids[mb])[:, start : start + n], v_old[mb], ret[mb], mask[mb])
                pi_opt.zero_grad()
                v_opt.zero_grad()
                (pl + vl).backward()
                pi_opt.step()
                v_opt.step()
        log.append({"score": r.mean().item(), "kl": kl.sum(dim=1).mean().item()})
    return log
