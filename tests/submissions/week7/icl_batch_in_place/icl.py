"""Few-shot in-context learning on a toy task (Brown et al. 2020, section 2 and Figure 1.2).

GPT-3 learns a task "from the context": the prompt shows K examples of a new
task, and the weights do not change. Here a small GPT is trained on
sequences that each show a NEW random function, and learns to read that
function off the examples in its context.

The task: a dictionary with several answers per word. There are N_WORDS = 6
words (tokens 0..5); word x has N_ANSWERS = 4 possible answers, the tokens

    FIRST_ANSWER + 4 x + j,   j = 0..3          (30 tokens in all)

Each sequence draws its own function f: for every word, one of its 4
answers, uniformly and independently. It shows N_PAIRS = 12 pairs,

    x_1 f(x_1) x_2 f(x_2) ... x_12 f(x_12)        (24 tokens, each x_k uniform over the words)

Nothing in the weights can say which answer f gives a word this time: only an
earlier pair with the same word can. So no model beats

    acc*(k) = 1 - (1 - 1/4) (1 - 1/6)^(k-1)       (the word was shown before, or a guess among 4)

on the k-th answer: 25% with no example (k = 1), 90% at k = 12. A model that
learned in context follows that curve. (An answer names its word, so one
attention layer can find the earlier answer to the same word; with answers
shared by all words the model would need an induction head: see the lesson's
challenges.)
"""

import torch
from gpt import GPT, GPTConfig
from torch.nn import functional as F

# --- the task (finished) ---

N_WORDS, N_ANSWERS, N_PAIRS = 6, 4, 12
FIRST_ANSWER = N_WORDS
VOCAB_SIZE = N_WORDS + N_WORDS * N_ANSWERS  # 30
SEQ_LEN = 2 * N_PAIRS  # 24


def icl_config(**overrides):
    """The small GPT of this task: 2 layers, 2 heads, d = 32, no dropout."""
    fields = dict(vocab_size=VOCAB_SIZE, block_size=SEQ_LEN, n_layer=2, n_head=2, n_embd=32, dropout=0.0, bias=True)
    return GPTConfig(**{**fields, **overrides})


def sample_icl(n, generator):
    """n sequences x_1 f(x_1) ... x_12 f(x_12), each with its own random f: (n, 24) long."""
    choice = torch.randint(N_ANSWERS, (n, N_WORDS), generator=generator)  # f(x) = FIRST_ANSWER + 4x + choice[x]
    x = torch.randint(N_WORDS, (n, N_PAIRS), generator=generator)  # (n, K)
    y = FIRST_ANSWER + N_ANSWERS * x + choice.gather(1, x)  # (n, K)
    return torch.stack([x, y], dim=2).view(n, SEQ_LEN)  # x_1 y_1 x_2 y_2 ...


def best_accuracy(k):
    """acc*(k): the best accuracy any model can have on the k-th answer (k = 1..N_PAIRS)."""
    return 1 - (1 - 1 / N_ANSWERS) * (1 - 1 / N_WORDS) ** (k - 1)


# --- what you write ---


def icl_batch(seqs):
    """Inputs and targets for next-token training with the loss on the answers only.

    Args:
        seqs: (B, 24) long, rows x_1 f(x_1) ... x_12 f(x_12).

    Returns:
        (idx, targets), both (B, 23) long: idx = seqs without its last token;
        targets[:, t] = seqs[:, t + 1] where that next token is an answer
        f(x_k) (t = 0, 2, 4, ..., 22: the position of x_k predicts f(x_k)),
        and -100 where it is a word (t odd): the next word is random, and
        F.cross_entropy(..., ignore_index=-100) leaves those positions out.
    """
    idx = seqs[:, :-1]  # (B, 23)
    targets = seqs[:, 1:]  # (B, 23)
    targets[:, 1::2] = -100  # the next token is a word x_{k+1}: no loss
    return idx, targets


@torch.no_grad()
def answer_accuracy(model, seqs):
    """The accuracy on each answer: how often f(x_k) is the top prediction after x_k.

    Args:
        model: a GPT (put it in eval mode).
        seqs: (B, 24) long sequences, on the model's device.

    Returns:
        (12,) float tensor on the CPU: entry k - 1 is the share of the B
        sequences whose logits at the position of x_k (position 2k - 2) have
        their argmax, over the whole vocabulary, at f(x_k).
    """
    model.eval()
    idx, targets = icl_batch(seqs)
    logits, _ = model(idx)  # (B, 23, V)
    predictions = logits[:, 0::2].argmax(-1)  # (B, K): the predictions at x_1, ..., x_K
    return (predictions == targets[:, 0::2]).float().mean(0).cpu()


def train_icl(config, data, steps=300, seed=0, device="cpu", batch_size=32, lr=3e-3):
    """Train a GPT to learn in context.

    Args:
        config: a GPTConfig (icl_config()).
        data: (N, 24) long training sequences (sample_icl), on the CPU or on `device`.
        steps: optimizer steps; each takes batch_size random rows of data
            (a torch.Generator seeded with `seed` draws them).
        seed: torch.manual_seed(seed) before building the model, and the batches' generator.
        device: where to train.

    Returns:
        The trained GPT on `device`. Use icl_batch (the loss on the answers
        only, every pair of every row) and AdamW with lr; keep each row's
        order: the pairs only teach anything next to one another. With the
        defaults, accuracy on the last answers is near acc*(k) in seconds.
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = GPT(config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=0.0)
    model.train()
    for _ in range(steps):
        rows = torch.randint(len(data), (batch_size,), generator=generator)
        idx, targets = icl_batch(data[rows].to(device))
        logits, _ = model(idx)  # (B, 23, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model


def plot_icl_accuracy(accuracies, path="icl_accuracy.png"):
    """Given: plot answer accuracy against the number of examples before it, with acc*(k); writes a PNG.

    Args:
        accuracies: {label: (12,) accuracies}, e.g. {"trained": answer_accuracy(model, seqs)}.
        path: the PNG file to write.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shots = list(range(N_PAIRS))  # the k-th answer follows k - 1 examples
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(shots, [best_accuracy(k + 1) for k in shots], "k--", label="best possible, acc*(k)")
    for label, acc in accuracies.items():
        ax.plot(shots, [float(a) for a in acc], marker="o", label=label)
    ax.axhline(1 / N_ANSWERS, color="grey", lw=0.8, label="chance (1/4)")
    ax.set_xlabel("examples in the context before the query (k - 1)")
    ax.set_ylabel("accuracy on the k-th answer")
    ax.set_ylim(0, 1)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
