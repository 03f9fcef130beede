"""Visible tests for rlaif.py: run `pytest test_rlaif.py` (the last one trains for a few seconds)."""

import copy

import torch
from constitution import spec_constitution, task_success, violations
from policy import (
    EOS,
    PAD,
    PROMPT_LEN,
    REDACT,
    PolicyConfig,
    pretrain_policy,
    prompt_words,
    response_tokens,
    sample,
    sample_prompts,
)
from rlaif import ai_preference, feedback_pairs, pair_batch, preference_pairs, train_cai


def test_ai_preference():
    assert ai_preference([5, 14], [5, REDACT, EOS], [5, 14, EOS]) == 0, "fewer violations wins"
    assert ai_preference([5, 14], [5, 14, EOS], [5, EOS]) == 1, "fewer violations wins, even if unhelpful"
    assert ai_preference([5, 6], [5, EOS], [5, 6, EOS]) == 1, "same violations: the helpful one wins"
    assert ai_preference([5, 6], [5, 6, EOS], [5, 6, EOS]) is None, "a tie"
    assert ai_preference([5, 6], [5, 6, EOS], [5, 6], spec_constitution()[:2]) is None, (
        "only the principles given count"
    )


def test_preference_pairs():
    prompts = torch.tensor([[5, 14, PAD, PAD, PAD, PAD, 1], [6, PAD, PAD, PAD, PAD, PAD, 1]])
    kept, chosen, rejected = preference_pairs(prompts, [[5, 14, EOS], [6, EOS]], [[5, REDACT, EOS], [6, EOS]])
    assert torch.equal(kept, prompts[:1]), "the tie (second pair) is dropped"
    assert chosen == [[5, REDACT, EOS]] and rejected == [[5, 14, EOS]]


def test_pair_batch():
    prompts = sample_prompts(2, torch.Generator().manual_seed(0))
    chosen_ids, rejected_ids, chosen_mask, rejected_mask = pair_batch(prompts, [[4, EOS], []], [[5, 5, EOS], [EOS]])
    assert chosen_ids.shape == rejected_ids.shape == chosen_mask.shape == (2, PROMPT_LEN + 3)
    assert chosen_mask.dtype == torch.bool and chosen_ids.dtype == torch.long
    assert chosen_ids[0].tolist() == prompts[0].tolist() + [4, EOS, PAD]
    assert chosen_mask[0].tolist() == [False] * PROMPT_LEN + [True, True, False]
    assert not chosen_mask[1].any(), "an empty response has no token to score"
    assert rejected_mask.sum(1).tolist() == [3, 1]


def test_feedback_pairs_prefer_the_constitution():
    policy = pretrain_policy(PolicyConfig(), steps=100, seed=0)
    prompts = sample_prompts(200, torch.Generator().manual_seed(1))
    chosen_ids, rejected_ids, chosen_mask, rejected_mask = feedback_pairs(
        policy, prompts, torch.Generator().manual_seed(2)
    )
    assert 0 < len(chosen_ids) <= len(prompts)
    for ids_w, m_w, ids_l, m_l in zip(chosen_ids, chosen_mask, rejected_ids, rejected_mask):
        assert torch.equal(ids_w[:PROMPT_LEN], ids_l[:PROMPT_LEN]), "both answer the same prompt"
        words = prompt_words(ids_w[:PROMPT_LEN])
        w, l = ids_w[m_w].tolist(), ids_l[m_l].tolist()
        key_w = (len(violations(words, w)), not task_success(words, w))
        key_l = (len(violations(words, l)), not task_success(words, l))
        assert key_w < key_l, "the chosen answer breaks fewer principles, or as few and is helpful"


def rates(policy, prompts, seed):
    responses = sample(policy, prompts, torch.Generator().manual_seed(seed))
    pairs = [(prompt_words(p), response_tokens(r)) for p, r in zip(prompts, responses)]
    return sum(bool(violations(*x)) for x in pairs) / len(pairs), sum(task_success(*x) for x in pairs) / len(pairs)


def test_train_cai_makes_the_policy_harmless_and_keeps_it_helpful():
    start = pretrain_policy(PolicyConfig(), seed=1)
    prompts = sample_prompts(1000, torch.Generator().manual_seed(3))
    held = sample_prompts(1000, torch.Generator().manual_seed(4))
    v0, s0 = rates(start, held, 5)
    policy = train_cai(copy.deepcopy(start), prompts, seed=0)
    v1, s1 = rates(policy, held, 5)
    assert v1 <= v0 - 0.2, f"violation rate {v0:.1%} -> {v1:.1%}"
    assert s1 >= s0 - 0.05, f"task success {s0:.1%} -> {s1:.1%}"
