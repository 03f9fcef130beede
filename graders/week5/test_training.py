"""Hidden checks for training.py: get_batch's windows, and a character-level GPT trained by train_lm.

train_lm trains in the submission's process on the first 90% of Tiny
Shakespeare, encoded by the grader; only the weights come back. They are
loaded into the REFERENCE GPT and scored on the grader's own windows of the
last 10% of the text, which the submission never sees.
"""

import torch

from coursekit.grading import week5_toys as toys
from coursekit.grading.checks import expect_state_dict, expect_tensor, fail

GENERATOR = "coursekit.grading.week5_toys.seeded_generator"
TRAIN_STEPS = 400
BATCH_SIZE = 32
LR = 3e-3
VAL_WINDOWS = 512
LOSS_TARGET = 2.40  # nats per character on held-out text (uniform 4.17, unigram ~3.3, bigram ~2.5)


def batch(student, data, T, B, seed, global_seed=0, device="cpu"):
    answer = student.call(
        "training.get_batch", data, T, B, generator=student.obj(GENERATOR, seed), device=device, seed=global_seed
    )
    out = answer["outputs"]
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail("get_batch should return a pair (x, y)")
    x = expect_tensor(out[0], "x", shape=(B, T), dtype=torch.long)
    y = expect_tensor(out[1], "y", shape=(B, T), dtype=torch.long)
    return x.cpu(), y.cpu()


def test_get_batch(student, device):
    N, T, B = 14, 10, 2000
    data = torch.arange(N) * 3 + 5  # distinct values: position i holds 3i + 5
    x, y = batch(student, data, T, B, seed=1, device=device)
    starts = (x[:, 0] - 5) // 3
    if ((x[:, 0] - 5) % 3 != 0).any() or (starts < 0).any():
        fail("rows of x are not windows of data")
    if starts.max() > N - T - 1:
        fail(
            f"a window starts at {int(starts.max())}, after the last possible start N - T - 1 (y needs the next token)"
        )
    if not torch.equal(x, data[starts[:, None] + torch.arange(T)]):
        fail("x[b] should be data[i : i + T], T consecutive tokens")
    if torch.equal(y, x):
        fail("y equals x: the targets should be the NEXT tokens, data[i + 1 : i + T + 1]")
    if not torch.equal(y, x + 3):
        fail("y[b] should be data[i + 1 : i + T + 1], the window shifted by one")
    counts = torch.bincount(starts, minlength=N - T)
    if counts[-1] == 0 or counts[0] == 0:
        which = "last" if counts[-1] == 0 else "first"
        fail(f"no window starts at the {which} possible position: starts run over 0 .. N - T - 1, both included")
    expected = B / (N - T)
    if (counts - expected).abs().max() > 6 * (expected * (1 - 1 / (N - T))) ** 0.5:
        fail(f"start positions are not uniform over the {N - T} possible windows (counts {counts.tolist()})")
    again, _ = batch(student, data, T, B, seed=1, global_seed=99, device=device)
    if not torch.equal(again, x):
        fail("the same generator state gave a different batch: draw the start positions with `generator`")
    other, _ = batch(student, data, T, B, seed=2, device=device)
    if torch.equal(other, x):
        fail("another generator seed gave the same batch")


def test_train_char_lm(student, ref, device, shakespeare):
    chars = toys.char_vocab(shakespeare)
    train_text, val_text = toys.split_text(shakespeare)
    data = toys.encode_chars(train_text, chars)
    config = student.obj("gpt1.GPTConfig", **toys.config_fields(len(chars)))
    answer = student.call(
        "training.train_lm", data, config, steps=TRAIN_STEPS, batch_size=BATCH_SIZE, lr=LR, seed=29, device=device,
        watch=False,
    )  # fmt: skip
    model = ref.gpt1.GPT(ref.gpt1.GPTConfig(**toys.config_fields(len(chars))))
    state = expect_state_dict(answer["outputs"], model.state_dict(), "train_lm's returned model")
    state = {k: v.float().cpu() for k, v in state.items()}
    if not torch.equal(state["lm_head.weight"], state["wte.weight"]):
        fail("the trained model's lm_head.weight differs from wte.weight: they should be tied")
    model.load_state_dict(state)
    model.eval()
    x, y = toys.eval_windows(toys.encode_chars(val_text, chars), model.config.block_size, VAL_WINDOWS)
    with torch.no_grad():
        loss = ref.gpt1.lm_loss(model(x), y).item()
    if not loss <= LOSS_TARGET:
        fail(
            f"after {TRAIN_STEPS} steps the model's loss on held-out Shakespeare is {loss:.3f} nats per character "
            f"(needs {LOSS_TARGET:.2f}; a unigram model gets about 3.3)"
        )
