"""Reinforcement learning from the reward model with PPO (Ouyang et al. 2022, section 3.5, step 3 of Figure 2).

The policy writes a response y to a prompt x, one token at a time: an episode
whose actions are tokens. The reward model scores the finished response, and
InstructGPT's objective (eq. 2) subtracts a KL penalty to the SFT model,
token by token, so the policy does not drift into text that only fools the
reward model:

    R(x, y) = r(x, y) - beta log( pi(y | x) / pi_ref(y | x) )

The pieces (Schulman et al. 2015 and 2017):

- per-token rewards: -beta * kl_t at every response token, plus r(x, y) at the last;
- generalised advantage estimation (GAE) with a learned value V:
      delta_t = r_t + gamma V(s_{t+1}) - V(s_t)        (no V(s_{t+1}) after the episode's last step)
      A_t = delta_t + gamma lambda A_{t+1}             (A stops at the episode's end too)
- the clipped surrogate objective, with rho_t = pi(a_t | s_t) / pi_old(a_t | s_t):
      L_CLIP = E[ min( rho_t A_t, clip(rho_t, 1 - eps, 1 + eps) A_t ) ]    (maximised)
- a squared-error loss for the value, optionally clipped around the old values.

Tensors are (B, T): a batch of B episodes of T steps (the response tokens);
`mask` (B, T) marks the steps that exist (True; right padding is False).
"""

import torch
from toy import RESPONSE_LEN, generate, token_logprobs


def masked_mean(x, mask):
    """The mean of x over the positions where mask is True (a scalar). Finished."""
    mask = mask.to(x.dtype)
    return (x * mask).sum() / mask.sum()


def kl_penalty(logprobs, ref_logprobs, kind="k1"):
    """Per-token estimates of KL(pi || pi_ref) from tokens sampled from pi. (B, T) each.

    With log r = ref_logprobs - logprobs (r = pi_ref / pi at the sampled token):
        "k1":  -log r = logprobs - ref_logprobs       (unbiased, the one InstructGPT uses)
        "k2":  (log r)^2 / 2                         (biased, low variance, >= 0)
        "k3":  (r - 1) - log r                       (unbiased, >= 0)
    Any other kind raises ValueError.
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement kl_penalty in ppo.py')


def shaped_rewards(scores, kl, mask, beta):
    """InstructGPT's per-token rewards: the KL penalty at every step, the score at the last.

    Args:
        scores: (B,) the reward model's score of each response.
        kl: (B, T) per-token KL estimates (kl_penalty).
        mask: (B, T) bool, each row True on a prefix of at least one step (right padding).
        beta: the KL coefficient.

    Returns:
        (B, T): -beta * kl[b, t] at every step t of row b, plus scores[b] at its
        last step (the last True of mask[b]); 0 where mask is False.
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement shaped_rewards in ppo.py')


def gae(rewards, values, dones, next_value, gamma=1.0, lam=0.95):
    """Generalised advantage estimation (Schulman et al. 2015, eq. 16), backwards in time.

    Args:
        rewards: (B, T) the reward of each step.
        values: (B, T) V(s_t), the value of the state each step starts from.
        dones: (B, T) bool: True where an episode ends with step t (a rollout may
            hold several episodes one after the other).
        next_value: (B,) V of the state after step T - 1 (used only if it does not end an episode).
        gamma, lam: the discount and GAE's lambda.

    Returns:
        (advantages, returns), both (B, T):
            V(s_{t+1}) = values[:, t + 1] (next_value at t = T - 1), and 0 where dones[:, t];
            delta_t = rewards_t + gamma V(s_{t+1}) - values_t;
            A_t = delta_t + gamma lam A_{t+1}, where A_{t+1} is 0 if dones[:, t] or t = T - 1;
            returns = advantages + values (the value's regression targets).
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement gae in ppo.py')


def whiten(x, mask, eps=1e-8):
    """Normalise x over its masked positions: (x - mean) / sqrt(var + eps), 0 where mask is False.

    mean and var (the biased variance, dividing by the count) are taken over the
    positions where mask is True, across the whole batch. x, mask: (B, T).
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement whiten in ppo.py')


def policy_loss(logprobs, old_logprobs, advantages, mask, clip_eps=0.2):
    """PPO's clipped surrogate loss (Schulman et al. 2017, eq. 7), to minimise. A scalar.

    rho = exp(logprobs - old_logprobs); the loss is
        - masked_mean( min(rho * A, clip(rho, 1 - clip_eps, 1 + clip_eps) * A) )
    over every masked token of the batch. Gradients flow through logprobs only
    (old_logprobs and advantages are data). All inputs (B, T).
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement policy_loss in ppo.py')


def value_loss(values, old_values, returns, mask, clip_eps=None):
    """The value's loss, to minimise. A scalar; inputs (B, T).

    Without clipping (clip_eps=None): 0.5 * masked_mean((values - returns)^2).
    With clipping: v_clip = old_values + clip(values - old_values, -clip_eps, clip_eps) and
        0.5 * masked_mean( max((values - returns)^2, (v_clip - returns)^2) ).
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement value_loss in ppo.py')


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
    """RLHF with PPO, in place: policy and value_model are trained, the reference is frozen.

    Each iteration:
        1. rollout (no gradients, policy in eval mode): batch_size prompts drawn with
           torch.randint(len(prompts), (batch_size,), generator=generator); RESPONSE_LEN
           tokens sampled after each (toy.generate with `generator`); their log-probabilities
           under the policy (old_logprobs) and the reference (toy.token_logprobs), the values
           V(s_t) = value_model(ids)[:, P - 1 + t] of the states before each response token
           t (P the prompt length), and scores = reward_fn(ids) (B,);
        2. per-token kl = kl_penalty(old, ref) ("k1"), rewards = shaped_rewards(scores, kl, mask, beta)
           (mask all True: every response has RESPONSE_LEN tokens); gae with the episode ending at
           the last token (next_value 0); advantages whitened;
        3. `epochs` passes over the batch (train mode), in minibatches of minibatch_size in a
           random order (torch.randperm(batch_size, generator=generator)): one Adam(lr) step on
           policy_loss + value_loss (unclipped) over the parameters of both models.

    Args:
        policy, reference: TinyGPTs; value_model: a ValueModel; reward_fn: ids (B, T) -> (B,) scores.
        prompts: (N, P) long, the prompts to draw from.

    Returns:
        A list with one dict per iteration: {"score": the rollout's mean score,
        "kl": its mean sum over tokens of kl}, both floats.
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement train_ppo in ppo.py')
