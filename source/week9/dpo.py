"""Direct Preference Optimization (Rafailov et al. 2023).

RLHF fits a reward model, then maximises it with PPO under a KL penalty to a
reference policy pi_ref. DPO notices that the KL-constrained optimum has a
closed form, pi*(y|x) ∝ pi_ref(y|x) exp(r(x, y) / beta), so a policy defines
its own implicit reward

    r(x, y) = beta log pi(y|x) / pi_ref(y|x)           (up to a term in x alone)

and the Bradley-Terry likelihood of a preference y_w > y_l becomes a loss on
the policy itself (eq. 7):

    L_DPO = -E log sigma( beta [ (log pi(y_w|x) - log pi_ref(y_w|x))
                               - (log pi(y_l|x) - log pi_ref(y_l|x)) ] )

No reward model and no sampling: one forward pass of the policy and of the
frozen reference on each chosen and rejected response.
"""

import torch
from torch.nn import functional as F


def sequence_logprobs(logits, labels, mask):
    """Sum of log-probabilities of the labelled tokens.

    Args:
        logits: (B, T, V), position t's distribution over the token labels[:, t].
        labels: (B, T) long.
        mask: (B, T) bool or 0/1, which positions count (the response).

    Returns:
        (B,): sum_t mask[b, t] * log_softmax(logits[b, t])[labels[b, t]].
    """
    ### BEGIN SOLUTION
    logp = F.log_softmax(logits, dim=-1)  # (B, T, V)
    token_logp = logp.gather(-1, labels.unsqueeze(-1)).squeeze(-1)  # (B, T)
    return (token_logp * mask.to(token_logp.dtype)).sum(-1)  # (B,)
    ### END SOLUTION


def dpo_loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta=0.1):
    """Direct Preference Optimization (Rafailov et al. 2023), eq. 7. All inputs (B,).

    Returns:
        (loss, chosen_rewards, rejected_rewards):
        loss = mean_b -log sigma(beta * ((pc - rc) - (pr - rr))), computed stably with F.logsigmoid;
        chosen_rewards = beta * (pc - rc) and rejected_rewards = beta * (pr - rr), detached, (B,) each.
    """
    ### BEGIN SOLUTION
    chosen_logratios = policy_chosen_logps - reference_chosen_logps  # (B,)
    rejected_logratios = policy_rejected_logps - reference_rejected_logps  # (B,)
    loss = -F.logsigmoid(beta * (chosen_logratios - rejected_logratios)).mean()
    chosen_rewards = beta * chosen_logratios.detach()
    rejected_rewards = beta * rejected_logratios.detach()
    return loss, chosen_rewards, rejected_rewards
    ### END SOLUTION


def response_logprobs(model, ids, mask):
    """log pi(response | prompt) of each row: (B,). logits[:, t] predicts ids[:, t + 1]."""
    logits = model(ids)  # (B, T, V)
    return sequence_logprobs(logits[:, :-1], ids[:, 1:], mask[:, 1:])


def train_dpo(
    policy,
    reference,
    chosen,
    rejected,
    chosen_mask,
    rejected_mask,
    beta=0.1,
    steps=200,
    lr=1e-3,
    batch_size=32,
    device="cpu",
    generator=None,
):
    """DPO on preference pairs.

    Args:
        policy, reference: nn.Modules called as model(ids) -> logits (B, T, V), where logits[:, t]
            predicts ids[:, t + 1]. The reference is frozen (no grad, eval mode).
        chosen, rejected: (N, T) long, prompt + response, padded.
        chosen_mask, rejected_mask: (N, T) bool, True on the response tokens of ids (the tokens to score).
        beta: the strength of the implicit KL constraint.
        steps, lr, batch_size: Adam on policy's parameters, batch_size random pairs per step.
        device: where to train.
        generator: a torch.Generator that draws the minibatches.

    Returns:
        The list of per-step losses (floats); trains policy in place. A sequence's
        log-probability is sequence_logprobs(model(ids)[:, :-1], ids[:, 1:], mask[:, 1:]).
    """
    ### BEGIN SOLUTION
    policy.to(device).train()
    reference.to(device).eval()
    optimizer = torch.optim.Adam(policy.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        rows = torch.randint(len(chosen), (batch_size,), generator=generator)
        yw, yl = chosen[rows].to(device), rejected[rows].to(device)  # (B, T)
        mw, ml = chosen_mask[rows].to(device), rejected_mask[rows].to(device)  # (B, T)
        with torch.no_grad():
            ref_w, ref_l = response_logprobs(reference, yw, mw), response_logprobs(reference, yl, ml)  # (B,)
        pol_w, pol_l = response_logprobs(policy, yw, mw), response_logprobs(policy, yl, ml)  # (B,)
        loss, _, _ = dpo_loss(pol_w, pol_l, ref_w, ref_l, beta=beta)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
    ### END SOLUTION
