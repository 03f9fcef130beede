"""Hidden checks for rlaif.py: the AI labeller, the pairs, their tensors, the pipeline, and training.

The labeller, the pairs and the tensors are compared with the reference
solution's on edge cases (ties, identical responses, empty responses, every
pair a tie) and random inputs, with the spec's constitution and with ones the
grader makes. feedback_pairs runs on a grader policy whose logits come from a
table (the same samples on every device for the same generator) and must
give the reference's tensors exactly.

train_cai trains in the submission's process, from the helpful-only policy
that the grader's code pretrains there (week10_toys.pretrained_policy); only
the trained weights come back. The grader loads them into the REFERENCE
Policy and samples answers to its own held-out prompts with its own
generator: the share of answers that break a principle must be VIOLATION_DROP
below the starting policy's (measured by the course on the same prompts,
week10_toys.START_VIOLATIONS), and the share that do the task at most
SUCCESS_MARGIN below its START_SUCCESS.
"""

import torch

from coursekit.grading import week10_toys as toys
from coursekit.grading.checks import expect_state_dict, expect_tensor, fail
from coursekit.grading.wire import Unsendable

EOS, REDACT = toys.EOS, toys.REDACT

TRAIN_PROMPTS = 1000
ROUNDS, STEPS, BETA, LR, BATCH = 3, 40, 2.0, 3e-4, 64
VIOLATION_DROP = 0.20  # from the starting policy's 42% of answers; the reference: 4-6% (starting seeds 1-3)
SUCCESS_MARGIN = 0.05  # from the starting policy's 69%; the reference: 95-97% (starting seeds 1-3)


def show(x):
    return "[" + ", ".join(map(str, x)) + "]"


def kind(x):
    return x.what if isinstance(x, Unsendable) else type(x).__name__


def constitution_obj(student, names):
    return student.obj(toys.__name__ + ".grader_constitution", list(names))


def labelled_cases(gen, n):
    """(prompt, a, b) triples: random ones, ties by construction, and near misses of the right answer."""
    out = [
        ([5, 6], [5, 6, EOS], [5, 6, EOS]),  # identical
        ([5, 14], [5, REDACT, EOS], [5, EOS]),  # both clean; only a does the task
        ([5, 14], [5, 14, EOS], [5, EOS]),  # a: a violation but helpful; b: clean and unhelpful
        ([5, 6], [5, 6, EOS, 4], [5, 6]),  # one violation each, both do the task: a tie
        ([5], [], [EOS]),  # empty against EOS: a violation against none
        ([5], [14, 14, 14, 14, 14, 14, 14, 14, 14], [15, 15, 15]),  # 3 violations against 2, both unhelpful
        ([], [EOS], [REDACT, EOS]),  # both clean and helpful: a tie
        ([4, 4], [4, 4, 4, EOS], [4, EOS]),
    ]
    for _ in range(n):
        prompt = toys.random_prompt(gen)
        u = torch.rand(3, generator=gen).tolist()
        right = [REDACT if t in toys.FORBIDDEN else t for t in prompt] + [EOS]
        a = right if u[0] < 0.3 else toys.random_response(gen)
        b = list(a) if u[1] < 0.15 else (prompt + [EOS] if u[2] < 0.4 else toys.random_response(gen))
        out.append((prompt, a, b))
    return out


def expect_label(got, want, what):
    if got is not None and (type(got) is not int or got not in (0, 1)):
        fail(f"ai_preference should return 0, 1 or None, got {got!r} ({kind(got)})")
    if got != want:
        fail(f"ai_preference({what}) is {got}, expected {want}")


def test_ai_preference(student, ref, gen):
    for prompt, a, b in labelled_cases(gen, 40):
        got = student.call("rlaif.ai_preference", prompt, a, b)["outputs"]
        expect_label(got, ref.rlaif.ai_preference(prompt, a, b), f"prompt {show(prompt)}, {show(a)}, {show(b)}")
    for names in (["short", "no_fives"], ["harmless"], []):
        constitution = toys.grader_constitution(names)
        for prompt, a, b in labelled_cases(gen, 10):
            got = student.call("rlaif.ai_preference", prompt, a, b, constitution_obj(student, names))["outputs"]
            want = ref.rlaif.ai_preference(prompt, a, b, constitution)
            expect_label(got, want, f"prompt {show(prompt)}, {show(a)}, {show(b)}, with the principles {names}")


def prompts_and_pairs(gen, n, ties=False):
    prompts = toys.sample_prompts(n, gen)
    a, b = [], []
    for p in prompts:
        words = toys.prompt_words(p)
        right = [REDACT if t in toys.FORBIDDEN else t for t in words] + [EOS]
        u = torch.rand(2, generator=gen).tolist()
        if ties:
            a.append(list(right)), b.append(list(right))
        else:
            a.append(toys.random_response(gen) if u[0] < 0.6 else words + [EOS])
            b.append(list(a[-1]) if u[1] < 0.2 else right)
    return prompts, a, b


def test_preference_pairs(student, ref, gen):
    settings = [(12, False, None), (1, False, None), (9, True, None), (15, False, ["short", "no_fives"])]
    for n, ties, names in settings:
        prompts, a, b = prompts_and_pairs(gen, n, ties)
        args = [prompts, a, b] + ([constitution_obj(student, names)] if names else [])
        got = student.call("rlaif.preference_pairs", *args)["outputs"]
        extra = [toys.grader_constitution(names)] if names else []
        kept, chosen, rejected = ref.rlaif.preference_pairs(prompts, a, b, *extra)
        case = f"{n} pairs" + (", all ties" if ties else "") + (f", the principles {names}" if names else "")
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            fail(f"preference_pairs should return (kept, chosen, rejected), got {kind(got)}")
        got_kept = expect_tensor(got[0], "kept", dtype=torch.long)
        if tuple(got_kept.shape) != tuple(kept.shape) or not torch.equal(got_kept.cpu(), kept):
            fail(f"preference_pairs keeps prompt rows of shape {tuple(got_kept.shape)}, expected {tuple(kept.shape)}, "
                 f"or not the same rows in the same order [{case}]")  # fmt: skip
        for name, g, w in (("chosen", got[1], chosen), ("rejected", got[2], rejected)):
            g = [list(r) if isinstance(r, (list, tuple)) else r for r in g] if isinstance(g, (list, tuple)) else g
            if g != w:
                fail(f"preference_pairs' {name} responses differ from the expected ones [{case}]")


def pair_cases(gen):
    out = []
    for m in (1, 4, 7):
        prompts = toys.sample_prompts(m, gen)
        chosen = [toys.random_response(gen) for _ in range(m)]
        rejected = [toys.random_response(gen) for _ in range(m)]
        out.append((prompts, chosen, rejected, f"{m} pairs"))
    prompts = toys.sample_prompts(3, gen)
    out.append((prompts, [[], [4, EOS], []], [[5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, EOS], [], [EOS]], "empty responses"))
    out.append((prompts, [[], [], []], [[], [], []], "only empty responses"))
    out.append((prompts[:, 2:], [[4], [5, 5], [6, 6, 6]], [[EOS], [EOS], [EOS]], "shorter prompt rows"))
    return out


def test_pair_batch(student, ref, gen):
    names = ("chosen_ids", "rejected_ids", "chosen_mask", "rejected_mask")
    for prompts, chosen, rejected, case in pair_cases(gen):
        got = student.call("rlaif.pair_batch", prompts, chosen, rejected)["outputs"]
        want = ref.rlaif.pair_batch(prompts, chosen, rejected)
        if not isinstance(got, (tuple, list)) or len(got) != 4:
            fail(f"pair_batch should return 4 tensors (chosen_ids, rejected_ids, chosen_mask, rejected_mask), got "
                 f"{kind(got)}")  # fmt: skip
        for name, g, w in zip(names, got, want):
            g = expect_tensor(g, name, dtype=w.dtype)
            if tuple(g.shape) != tuple(w.shape):
                fail(f"pair_batch's {name} has shape {tuple(g.shape)}, expected {tuple(w.shape)} [{case}]")
            if not torch.equal(g.cpu(), w):
                rows = (g.cpu() != w).any(-1).nonzero().flatten().tolist()
                fail(f"pair_batch's {name} differs from the expected tensor in rows {rows} [{case}]")


def test_feedback_pairs(student, ref, gen, device):
    names = ("chosen_ids", "rejected_ids", "chosen_mask", "rejected_mask")
    settings = [(11, 200, {}, None), (12, 60, {"max_rounds": 1}, ["no_fives", "harmless", "ends"])]
    for seed, n, kwargs, principles in settings:
        table = toys.bigram_table(seed)
        prompts = toys.sample_prompts(n, gen)
        policy = student.obj(toys.__name__ + ".BigramPolicy", table)
        generator = student.obj(toys.__name__ + ".generator", seed)
        args = [policy, prompts, generator] + ([constitution_obj(student, principles)] if principles else [])
        got = student.call("rlaif.feedback_pairs", *args, **kwargs)["outputs"]
        extra = [toys.grader_constitution(principles)] if principles else []
        want = ref.rlaif.feedback_pairs(toys.BigramPolicy(table), prompts, toys.generator(seed), *extra, **kwargs)
        case = (
            f"{n} prompts"
            + (f", the principles {principles}" if principles else "")
            + (f", max_rounds={kwargs['max_rounds']}" if kwargs else "")
        )
        if not isinstance(got, (tuple, list)) or len(got) != 4:
            fail(f"feedback_pairs should return pair_batch's 4 tensors, got {kind(got)}")
        for name, g, w in zip(names, got, want):
            g = expect_tensor(g, name, dtype=w.dtype)
            if tuple(g.shape) != tuple(w.shape):
                fail(f"feedback_pairs' {name} has shape {tuple(g.shape)}, expected {tuple(w.shape)} (one row per "
                     f"prompt whose pair has a preference) [{case}]")  # fmt: skip
            if not torch.equal(g.cpu(), w):
                fail(f"feedback_pairs' {name} differs from the expected pairs: sample a, then b, with the generator "
                     f"you are given, revise b, and label (a, revised b) [{case}]")  # fmt: skip


def test_train_cai(student, ref, device):
    train = toys.sample_prompts(TRAIN_PROMPTS, torch.Generator().manual_seed(1001))
    policy = student.obj(toys.__name__ + ".pretrained_policy", toys.START_SEED)
    answer = student.call("rlaif.train_cai", policy, train, rounds=ROUNDS, steps=STEPS, beta=BETA, lr=LR,
                          batch_size=BATCH, seed=7, device=device, watch=False)  # fmt: skip
    model = ref.policy.Policy(ref.policy.PolicyConfig(**toys.policy_fields()))
    state = expect_state_dict(answer["outputs"], model.state_dict(), "train_cai's returned policy")
    model.load_state_dict({k: v.float().cpu() for k, v in state.items()})
    held = toys.sample_prompts(toys.HELD_OUT, torch.Generator().manual_seed(toys.HELD_OUT_SEED))
    v, s = toys.rates(model, held, torch.Generator().manual_seed(toys.RATES_SEED))
    v0, s0 = toys.START_VIOLATIONS, toys.START_SUCCESS
    if not v <= v0 - VIOLATION_DROP:
        fail(f"{v:.1%} of the trained policy's answers break a principle, against {v0:.0%} for the starting policy "
             f"(needs a drop of {VIOLATION_DROP:.0%}); {s:.1%} do the task (the starting policy: {s0:.0%})")  # fmt: skip
    if not s >= s0 - SUCCESS_MARGIN:
        fail(f"{s:.1%} of the trained policy's answers do the task, against {s0:.0%} for the starting policy (at most "
             f"{SUCCESS_MARGIN:.0%} less allowed); {v:.1%} break a principle (the starting policy: {v0:.0%})")  # fmt: skip
