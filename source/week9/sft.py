"""Supervised fine-tuning on demonstrations (Ouyang et al. 2022, section 3.5, step 1 of Figure 2).

A labeler writes the response a prompt deserves; the model is trained to
imitate it with the language-modelling loss, but ONLY on the response: the
prompt is given, not something to learn to write, and padding is nothing at
all. With a sequence x = prompt + response and the set R of its response
positions,

    L_SFT = - (1 / |R|) sum_{t in R} log p(x_t | x_<t)

averaged over every response token of the batch (a token mean: a long
response weighs more than a short one).
"""

import torch
from torch.nn import functional as F
from toy import PAD

IGNORE = -100  # the label of a position that carries no loss (F.cross_entropy's ignore_index)


def make_sft_batch(prompts, responses, pad_id=PAD):
    """Pad demonstrations into one batch and label their response tokens.

    Args:
        prompts, responses: lists of B lists of token ids (a prompt may hold any
            tokens, SEP included; a response has at least one token).
        pad_id: the padding token.

    Returns:
        (ids, labels), both (B, T) long with T = max(len(prompt) + len(response)):
        ids[b] = prompt + response, right-padded with pad_id;
        labels[b, t] = ids[b, t] where t is a response position, IGNORE (-100) at
        the prompt's positions and at the padding. labels are NOT shifted:
        labels[:, t] is the token at position t, which logits[:, t - 1] predict.
    """
    ### BEGIN SOLUTION
    T = max(len(p) + len(r) for p, r in zip(prompts, responses))
    ids = torch.full((len(prompts), T), pad_id, dtype=torch.long)
    labels = torch.full((len(prompts), T), IGNORE, dtype=torch.long)
    for b, (p, r) in enumerate(zip(prompts, responses)):
        ids[b, : len(p) + len(r)] = torch.tensor(list(p) + list(r), dtype=torch.long)
        labels[b, len(p) : len(p) + len(r)] = torch.tensor(list(r), dtype=torch.long)
    return ids, labels
    ### END SOLUTION


def sft_loss(logits, labels):
    """The SFT loss: mean cross-entropy over the labelled (response) tokens.

    Args:
        logits: (B, T, V), model(ids): logits[:, t] predicts ids[:, t + 1].
        labels: (B, T) long from make_sft_batch (unshifted, IGNORE where no loss).

    Returns:
        A scalar: the mean over every (b, t) with labels[b, t + 1] != IGNORE of
        -log softmax(logits[b, t])[labels[b, t + 1]]. Shift first, then average
        over the labelled tokens of the whole batch.
    """
    ### BEGIN SOLUTION
    logits, targets = logits[:, :-1], labels[:, 1:]  # (B, T-1, V), (B, T-1)
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=IGNORE)
    ### END SOLUTION


def train_sft(model, ids, labels, steps=300, lr=3e-3, batch_size=64, device="cpu", generator=None):
    """Fine-tune a language model on demonstrations, in place.

    Args:
        model: a TinyGPT (model(ids) -> logits (B, T, V)); trained in place, in train mode.
        ids, labels: (N, T) long from make_sft_batch.
        steps: optimizer steps of AdamW(lr, weight_decay=0); each draws batch_size
            random rows with `generator` (torch.randint(N, (batch_size,), generator=generator)).
        device: where to train (move the model and each batch there).

    Returns:
        The list of the steps' losses (floats).
    """
    ### BEGIN SOLUTION
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    losses = []
    for _ in range(steps):
        rows = torch.randint(len(ids), (batch_size,), generator=generator)
        loss = sft_loss(model(ids[rows].to(device)), labels[rows].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
    ### END SOLUTION
