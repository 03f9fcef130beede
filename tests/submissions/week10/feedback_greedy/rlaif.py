"""AI feedback: preference pairs labelled by the constitution, and DPO on them (Bai et al. 2022, section 4).

Constitutional AI's second stage replaces human preference labels with AI
ones: a feedback model is shown a prompt and two responses and asked which one
better follows a principle; its answers train a preference model, and RL
against it gives RL-CAI (Lee et al. 2023 call the recipe RLAIF). Here the
feedback model is the constitution itself, and the RL step is Week 9's DPO
(Rafailov et al. 2023), which learns from the preference pairs directly.

The pipeline of train_cai, in each of a few rounds:

    1. sample two responses, a and b, to every prompt from the policy as it is
       now (policy.sample): the AI feedback is on-policy;
    2. critique and revise b (constitution.critique_and_revise): the candidate
       pair of the prompt is (a, revised b);
    3. the AI labeller (ai_preference) says which of the two is better: fewer
       violated principles first, then the helpful one; ties carry no
       preference and are dropped (preference_pairs);
    4. the pairs become token tensors (pair_batch), and dpo.train_dpo trains the
       policy on them, a frozen copy of the policy at the round's start serving
       as the reference.

Why compare a with a revision of ANOTHER sample, not of a itself? A pair (a,
revised a) differs only where a broke a principle: DPO then learns to lower
the forbidden word in a way that also weakens the copying that every answer
needs (the shared words cancel in DPO's loss, so nothing defends them), and
after a few rounds the policy is harmless and useless. Against an independent
revision, a sample that lost a word loses the comparison on helpfulness, and
that holds the task in place (Bai et al. train their preference model on
helpfulness comparisons too, section 4.1).
"""

import copy

import torch
from constitution import critique_and_revise, task_success, violations
from dpo import train_dpo
from policy import PAD, prompt_words, response_tokens, sample


def ai_preference(prompt, a, b, constitution=None):
    """The AI labeller: which of two responses to `prompt` is better?

    First the one that violates FEWER principles of `constitution` (counted
    with constitution.violations; None: the spec's constitution); on a tie, the one with task_success (the
    helpful one); if they still tie, neither.

    Returns:
        0 if a is preferred, 1 if b is preferred, None on a tie.
    """
    va, vb = len(violations(prompt, a, constitution)), len(violations(prompt, b, constitution))
    if va != vb:
        return 0 if va < vb else 1
    sa, sb = task_success(prompt, a), task_success(prompt, b)
    if sa != sb:
        return 0 if sa else 1
    return None


def preference_pairs(prompts, responses_a, responses_b, constitution=None):
    """Label candidate pairs with ai_preference and keep those with a preference.

    Args:
        prompts: (N, PROMPT_LEN) long prompt rows (their words: policy.prompt_words).
        responses_a, responses_b: lists of N responses (lists of ints), two candidates per prompt.
        constitution: the principles the labeller counts.

    Returns:
        (kept, chosen, rejected): kept, the (M, PROMPT_LEN) prompt rows whose
        pair has a preference, in their order; chosen and rejected, lists of M
        responses: the preferred and the other one of each kept pair.
    """
    rows, chosen, rejected = [], [], []
    for i, (a, b) in enumerate(zip(responses_a, responses_b)):
        label = ai_preference(prompt_words(prompts[i]), a, b, constitution)
        if label is None:
            continue
        rows.append(i)
        chosen.append(list(a if label == 0 else b))
        rejected.append(list(b if label == 0 else a))
    return prompts[torch.tensor(rows, dtype=torch.long)], chosen, rejected


def pair_batch(prompts, chosen, rejected):
    """The pairs as the token tensors of dpo.train_dpo.

    Args:
        prompts: (M, P) long prompt rows.
        chosen, rejected: lists of M responses (lists of ints, of any lengths, even empty).

    Returns:
        (chosen_ids, rejected_ids, chosen_mask, rejected_mask), each (M, P + L)
        with L the length of the longest response among chosen AND rejected:
        ids[i] is prompts[i], then the response, then PAD up to the end (long,
        on the prompts' device); mask[i] is True exactly on the response's tokens
        (positions P to P + len - 1), False on the prompt and the padding (bool).
    """
    M, P = prompts.shape
    L = max((len(r) for r in [*chosen, *rejected]), default=0)

    def batch(responses):
        ids = torch.full((M, P + L), PAD, dtype=torch.long, device=prompts.device)  # (M, P + L)
        mask = torch.zeros(M, P + L, dtype=torch.bool, device=prompts.device)
        ids[:, :P] = prompts
        for i, r in enumerate(responses):
            ids[i, P : P + len(r)] = torch.tensor(r, dtype=torch.long)
            mask[i, P : P + len(r)] = True
        return ids, mask

    (chosen_ids, chosen_mask), (rejected_ids, rejected_mask) = batch(chosen), batch(rejected)
    return chosen_ids, rejected_ids, chosen_mask, rejected_mask


def feedback_pairs(policy, prompts, generator, constitution=None, max_rounds=4):
    """Steps 1-3 of the pipeline: AI-labelled pairs from the policy's own samples.

    Two calls of policy.sample(policy, prompts, generator) (temperature 1) draw
    two responses per prompt, a then b (response_tokens of each row). The
    candidate pair of prompt i is (a_i, revised b_i), with b_i revised by
    critique_and_revise(prompt_words(prompts[i]), b_i, constitution,
    max_rounds); preference_pairs(prompts, a, revised, constitution) labels
    them. A revision is what the critique-and-revision stage (SL-CAI) would
    answer; against it, a harmful sample loses, and so does a sample that is
    harmless but unhelpful (a word lost, a word too many).

    Returns:
        pair_batch's four tensors (chosen_ids, rejected_ids, chosen_mask,
        rejected_mask), for the pairs that have a preference.
    """
    a = [response_tokens(row) for row in sample(policy, prompts, generator, temperature=0)]
    b = [response_tokens(row) for row in sample(policy, prompts, generator, temperature=0)]
    revised = [critique_and_revise(prompt_words(p), r, constitution, max_rounds)[0] for p, r in zip(prompts, b)]
    kept, chosen, rejected = preference_pairs(prompts, a, revised, constitution)
    return pair_batch(kept, chosen, rejected)


def train_cai(policy, prompts, rounds=3, steps=40, beta=2.0, lr=3e-4, batch_size=64, seed=0, device="cpu"):
    """RL-CAI with DPO: make the policy follow the constitution, from its own AI-labelled samples.

    Args:
        policy: the starting Policy (helpful-only); trained in place and returned.
        prompts: (N, PROMPT_LEN) long training prompts.
        rounds: rounds of sampling, labelling and training; each samples the policy as it is then.
        steps, beta, lr, batch_size: each round's dpo.train_dpo.
        seed: one torch.Generator (on the CPU) seeded with it draws every sample and minibatch.
        device: where to train.

    Returns:
        The trained policy on `device`. Each round: the frozen reference is a copy of the
        policy as the round starts (copy.deepcopy); the pairs are feedback_pairs(policy,
        prompts, generator); dpo.train_dpo trains on them (a round without pairs trains nothing).
    """
    generator = torch.Generator().manual_seed(seed)
    policy = policy.to(device)
    for _ in range(rounds):
        reference = copy.deepcopy(policy).eval()
        for p in reference.parameters():
            p.requires_grad_(False)
        pairs = feedback_pairs(policy, prompts.to(device), generator)
        if len(pairs[0]) == 0:
            continue
        train_dpo(policy, reference, *pairs, beta=beta, steps=steps, lr=lr, batch_size=batch_size, device=device,
                  generator=generator)  # fmt: skip
    return policy
