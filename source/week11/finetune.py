"""Fine-tuning a pretrained model with LoRA (Hu et al. 2021, sections 4 and 7).

A toy that shows LoRA's bet at work. A small classifier (ToyMLP, given) is
pretrained on an "old" task; the "new" task is the old one on inputs whose
first two features arrive rotated by 90 degrees (a sensor mounted the other
way round). The pretrained model gets about half of the new task right.

Why LoRA can fix it: with R the rotation, the new task is solved exactly by
changing fc1's weight W0 into W0 R, an update ΔW = W0 (R - I) of rank 2:
that alone brings the new task to the old task's accuracy. LoRA with r = 4
on fc1 and fc2 trains about 4% of the model's numbers and gets further still
(it adapts fc2's features too); training only the output layer cannot undo
the rotation.

The task (finished): x ~ N(0, I) in D_IN = 16 dimensions, N_CLASSES = 4
classes; a fixed teacher matrix T (N_CLASSES x D_IN, its first two columns
three times larger) labels the old task y = argmax(T x) and the new task
y = argmax(T R x), with R (x_0, x_1) = (-x_1, x_0).
"""

import torch
from lora import count_trainable_parameters, inject_lora
from torch import nn
from torch.nn import functional as F

# --- the model and the task (finished) ---

D_IN, HIDDEN, N_CLASSES = 16, 256, 4
TEACHER_SEED = 1106


class ToyMLP(nn.Module):
    """fc1 (D_IN -> HIDDEN), ReLU, fc2 (HIDDEN -> HIDDEN), ReLU, head (HIDDEN -> N_CLASSES): (B, D_IN) -> (B, N_CLASSES) logits."""

    def __init__(self, d_in=D_IN, hidden=HIDDEN, n_classes=N_CLASSES):
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, x):
        return self.head(F.relu(self.fc2(F.relu(self.fc1(x)))))


def teacher():
    """The fixed (N_CLASSES, D_IN) teacher matrix T; its first two columns are scaled by 3."""
    T = torch.randn(N_CLASSES, D_IN, generator=torch.Generator().manual_seed(TEACHER_SEED))
    T[:, :2] *= 3
    return T


def rotate(x):
    """R x: the first two features turned by 90 degrees, (x_0, x_1) -> (-x_1, x_0); x: (B, D_IN)."""
    return torch.cat([-x[:, 1:2], x[:, 0:1], x[:, 2:]], dim=1)


def sample_task(n, task, generator):
    """n examples of task "old" or "new": x (n, D_IN) float, y (n,) long."""
    x = torch.randn(n, D_IN, generator=generator)
    seen = x if task == "old" else rotate(x)
    return x, (seen @ teacher().T).argmax(-1)


@torch.no_grad()
def accuracy(model, x, y):
    """The share of rows whose argmax logit is y, in eval mode (a float)."""
    model.eval()
    return (model(x).argmax(-1) == y).float().mean().item()


def train_classifier(model, x, y, steps, lr, batch_size=128, seed=0, device="cpu"):
    """Train every trainable parameter of `model` on (x, y): Adam(lr), cross-entropy, batch_size
    random rows per step (a torch.Generator seeded with `seed` draws them). Returns the model."""
    generator = torch.Generator().manual_seed(seed)
    model.to(device).train()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    for _ in range(steps):
        rows = torch.randint(len(x), (batch_size,), generator=generator)
        loss = F.cross_entropy(model(x[rows].to(device)), y[rows].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model.eval()


def pretrain(seed=0, n=8000, ridge=1e-3):
    """The pretrained model, made cheaply and exactly reproducibly: a ToyMLP (torch.manual_seed(seed) builds it)
    whose fc1 and fc2 keep their random initialisation and whose head is fitted in closed form to n examples of
    the old task: ridge regression of the one-hot labels on the hidden features h (with a column of ones for the
    bias), beta = (H^T H + ridge n I)^-1 H^T Y. It gets about 85% of the old task right, and half of the new one.
    """
    torch.manual_seed(seed)
    model = ToyMLP()
    x, y = sample_task(n, "old", torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        h = F.relu(model.fc2(F.relu(model.fc1(x)))).double()  # (n, HIDDEN)
        H = torch.cat([h, torch.ones(n, 1, dtype=torch.float64)], dim=1)  # (n, HIDDEN + 1)
        Y = F.one_hot(y, N_CLASSES).double()  # (n, N_CLASSES)
        eye = torch.eye(HIDDEN + 1, dtype=torch.float64)
        beta = torch.linalg.solve(H.T @ H + ridge * n * eye, H.T @ Y)  # (HIDDEN + 1, N_CLASSES)
        model.head.weight.copy_(beta[:-1].T)
        model.head.bias.copy_(beta[-1])
    return model.eval()


# --- what you write ---


def finetune_lora(
    model,
    x,
    y,
    target_modules=("fc1", "fc2"),
    r=4,
    alpha=8.0,
    steps=200,
    lr=1e-2,
    batch_size=128,
    seed=0,
    device="cpu",
):
    """Fine-tune a pretrained model on (x, y) with LoRA.

    1. torch.manual_seed(seed) (LoRA's A matrices are drawn from it), then
       inject_lora(model, target_modules, r, alpha): the pretrained weights
       are frozen, only lora_A and lora_B train.
    2. Train with Adam(lr) (or AdamW) over the trainable parameters,
       cross-entropy on the logits, batch_size random rows of (x, y) per step
       drawn by a torch.Generator seeded with `seed`. `train_classifier`
       does exactly this for whatever is trainable.

    Args:
        model: a pretrained classifier (e.g. a ToyMLP from `pretrain`), modified in place.
        x, y: (N, D_IN) float inputs and (N,) long labels of the new task, on the CPU or on `device`.
        target_modules, r, alpha: as in inject_lora.
        steps, lr, batch_size, seed: the training run.
        device: where to train.

    Returns:
        The model on `device`, in eval mode, with its LoRA layers NOT merged:
        every pretrained number exactly as it came in, the whole change in
        lora_A and lora_B.
    """
    ### BEGIN SOLUTION
    torch.manual_seed(seed)
    inject_lora(model.to(device), target_modules, r, alpha)
    assert count_trainable_parameters(model) > 0, "no LoRA layer: no target module matched"
    return train_classifier(model, x, y, steps, lr, batch_size=batch_size, seed=seed, device=device)
    ### END SOLUTION
