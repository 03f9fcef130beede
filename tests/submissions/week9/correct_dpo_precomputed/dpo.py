"""DPO, written differently: the reference's log-probabilities computed once, chosen and rejected in one pass."""

import torch
import torch.nn.functional as F


def sequence_logprobs(logits, labels, mask):
    B, T, V = logits.shape
    nll = F.cross_entropy(logits.reshape(B * T, V), labels.reshape(B * T), reduction="none").view(B, T)
    return -(nll * mask).sum(dim=1)


def dpo_loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta=0.1):
    pi_logratios = policy_chosen_logps - policy_rejected_logps
    ref_logratios = reference_chosen_logps - reference_rejected_logps
    loss = F.softplus(-beta * (pi_logratios - ref_logratios)).mean()
    with torch.no_grad():
        chosen_rewards = beta * (policy_chosen_logps - reference_chosen_logps)
        rejected_rewards = beta * (policy_rejected_logps - reference_rejected_logps)
    return loss, chosen_rewards, rejected_rewards


def _logps(model, ids, mask):
    out = model(ids)
    return sequence_logprobs(out[:, :-1], ids[:, 1:], mask[:, 1:])


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
    policy = policy.to(device)
    reference = reference.to(device).eval()
    n = chosen.shape[0]
    ids = torch.cat([chosen, rejected]).to(device)  # (2N, T)
    masks = torch.cat([chosen_mask, rejected_mask]).to(device)
    with torch.no_grad():
        ref_all = torch.cat([_logps(reference, ids[i : i + 256], masks[i : i + 256]) for i in range(0, 2 * n, 256)])
    ref_chosen, ref_rejected = ref_all[:n], ref_all[n:]
    optimizer = torch.optim.Adam(policy.parameters(), lr=lr)
    policy.train()
    losses = []
    for _ in range(steps):
        b = torch.randint(n, (batch_size,), generator=generator).to(device)
        both = _logps(policy, torch.cat([ids[b], ids[b + n]]), torch.cat([masks[b], masks[b + n]]))
        loss, _, _ = dpo_loss(both[: len(b)], both[len(b) :], ref_chosen[b], ref_rejected[b], beta)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
