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

import torch
from constitution import critique_and_revise, task_success, violations
from dpo import train_dpo
from policy import PAD, Policy, prompt_words, response_tokens, sample
from torch.nn.utils.rnn import pad_sequence


def ai_preference(prompt, a, b, constitution=None):
    def key(r):
        return (len(violations(prompt, r, constitution)), 0 if task_success(prompt, r) else 1)

    ka, kb = key(a), key(b)
    if ka == kb:
        return None
    return int(kb < ka)


def preference_pairs(prompts, responses_a, responses_b, constitution=None):
    labels = [ai_preference(prompt_words(p), a, b, constitution) for p, a, b in zip(prompts, responses_a, responses_b)]
    keep = [i for i, label in enumerate(labels) if label is not None]
    pairs = [(responses_a[i], responses_b[i]) if labels[i] == 0 else (responses_b[i], responses_a[i]) for i in keep]
    mask = torch.zeros(len(prompts), dtype=torch.bool)
    mask[keep] = True
    return prompts[mask.to(prompts.device)], [list(w) for w, _ in pairs], [list(l) for _, l in pairs]


def pair_batch(prompts, chosen, rejected):
    M, P = prompts.shape
    device = prompts.device
    everything = [torch.tensor(r, dtype=torch.long) for r in [*chosen, *rejected]]
    lengths = torch.tensor([len(r) for r in everything], dtype=torch.long)
    if len(everything) and int(lengths.max()) > 0:
        padded = pad_sequence(everything, batch_first=True, padding_value=PAD)  # (2M, L)
    else:
        padded = torch.full((2 * M, 0), PAD, dtype=torch.long)
    L = padded.shape[1]
    ids = torch.cat([prompts.cpu().repeat(2, 1), padded], dim=1)  # (2M, P + L)
    positions = torch.arange(P + L)
    mask = (positions >= P) & (positions < P + lengths[:, None])  # (2M, P + L)
    ids, mask = ids.to(device), mask.to(device)
    return ids[:M], ids[M:], mask[:M], mask[M:]


def feedback_pairs(policy, prompts, generator, constitution=None, max_rounds=4):
    first = sample(policy, prompts, generator)
    second = sample(policy, prompts, generator)
    words = [prompt_words(p) for p in prompts]
    a = [response_tokens(r) for r in first]
    revised = []
    for w, r in zip(words, second):
        better, _ = critique_and_revise(w, response_tokens(r), constitution=constitution, max_rounds=max_rounds)
        revised.append(better)
    return pair_batch(*preference_pairs(prompts, a, revised, constitution))


def frozen_copy(policy):
    reference = Policy(policy.config).to(next(policy.parameters()).device)
    reference.load_state_dict({k: v.detach().clone() for k, v in policy.state_dict().items()})
    reference.requires_grad_(False)
    return reference.eval()


def train_cai(policy, prompts, rounds=3, steps=40, beta=2.0, lr=3e-4, batch_size=64, seed=0, device="cpu"):
    generator = torch.Generator()
    generator.manual_seed(seed)
    policy.to(device)
    prompts = prompts.to(device)
    for round_ in range(rounds):
        reference = frozen_copy(policy)
        chosen, rejected, chosen_mask, rejected_mask = feedback_pairs(policy, prompts, generator)
        if chosen.shape[0] > 0:
            train_dpo(policy, reference, chosen, rejected, chosen_mask, rejected_mask, beta=beta, steps=steps, lr=lr,
                      batch_size=batch_size, device=device, generator=generator)  # fmt: skip
    return policy
