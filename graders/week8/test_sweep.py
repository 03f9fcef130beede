"""Hidden checks for sweep.py: Kaplan's N, the held-out loss, training, and the sweep itself.

The grader reads Tiny Shakespeare from the course's data/ folder and passes
the character ids to the submission. Training runs in the submission's
process; only weights come back, and the grader loads them into the
REFERENCE GPT (model.py) and measures them itself on held-out text: a
sweep's reported losses must be what its returned weights score on the
validation data it was given, to 1e-4 nats.
"""

import itertools

import torch
from torch.nn import functional as F

from coursekit.grading import week8_toys as toys
from coursekit.grading.checks import expect_state_dict, fail
from coursekit.grading.wire import Unsendable

VOCAB, IDS = None, None
TRAIN_TOKENS = 400_000
VAL_TOKENS = 20_001  # 625 windows of 32: not a multiple of the batch sizes used
TRAIN_STEPS, TRAIN_TARGET = 300, 2.75  # 2-layer, 32-wide: the reference reaches about 2.5 nats
SWEEP = [(1, 1, 8), (1, 2, 16), (2, 2, 32)]  # (n_layer, n_head, n_embd), smallest first
SWEEP_STEPS, SWEEP_TRAINED = 150, 3.6  # every model must beat 3.6 nats (uniform: 4.17, unigram: 3.35)
LOSS_MATCH = 1e-4  # nats between a reported loss and the grader's measurement of the returned weights


def data():
    """(train, val): the first 400k characters and the last 20k of Tiny Shakespeare, as ids."""
    global VOCAB, IDS
    if IDS is None:
        VOCAB, IDS = toys.shakespeare()
    return IDS[:TRAIN_TOKENS], IDS[-VAL_TOKENS:]


def fields(n_layer, n_head, n_embd, block_size=32, vocab_size=65, dropout=0.0):
    return {"vocab_size": vocab_size, "block_size": block_size, "n_layer": n_layer, "n_head": n_head, "n_embd": n_embd,
            "dropout": dropout}  # fmt: skip


def kind(x):
    return x.what if isinstance(x, Unsendable) else type(x).__name__


def config_obj(student, f):
    return student.obj("model.GPTConfig", **f)


@torch.no_grad()
def held_out_loss(model, ids):
    """The spec's evaluation: mean cross-entropy over consecutive windows of block_size, in float64."""
    model.eval()
    T = model.config.block_size
    n = (len(ids) - 1) // T
    x, y = ids[: n * T].view(n, T), ids[1 : n * T + 1].view(n, T)
    logits, _ = model(x)
    return F.cross_entropy(logits.double().flatten(0, 1), y.flatten()).item()


def reference_model(ref, f, state=None):
    model = ref.model.GPT(ref.model.GPTConfig(**f))
    if state is not None:
        model.load_state_dict({k: v.float().cpu() for k, v in state.items()})
    return model


def count(model, non_embedding):
    skip = {id(model.transformer.wte.weight), id(model.transformer.wpe.weight)} if non_embedding else set()
    return sum(p.numel() for p in model.parameters() if id(p) not in skip)


def test_count_parameters(student, ref, gen):
    for _ in range(4):
        u = torch.rand(4, generator=gen).tolist()
        n_head = [1, 2, 4][int(3 * u[0])]
        f = fields(1 + int(4 * u[1]), n_head, n_head * [4, 8, 12][int(3 * u[2])], block_size=[16, 64][int(2 * u[3])],
                   vocab_size=[65, 50, 101][int(3 * u[3])])  # fmt: skip
        model = reference_model(ref, f)
        for non_embedding in (True, False):
            got = student.call("sweep.count_parameters", student.obj("model.GPT", config_obj(student, f)),
                               non_embedding=non_embedding, watch=False)["outputs"]  # fmt: skip
            want = count(model, non_embedding)
            if non_embedding and want != toys.non_embedding_parameters(f["n_layer"], f["n_embd"]):
                fail("the grader's count disagrees with model.py's formula")  # never: the reference model is fixed
            what = "non-embedding" if non_embedding else "all"
            if isinstance(got, bool) or not isinstance(got, int):
                fail(f"count_parameters should return a Python int, got {kind(got)}")
            if got != want:
                fail(f"count_parameters({what}) is {got} for n_layer={f['n_layer']}, n_embd={f['n_embd']}, "
                     f"vocab_size={f['vocab_size']}, block_size={f['block_size']}; expected {want}")  # fmt: skip


def test_evaluate_loss(student, ref, gen):
    _, val = data()
    for f, length, batch_size in [(fields(2, 2, 16, dropout=0.3), 3001, 7), (fields(1, 2, 8, block_size=24), 5000, 64)]:
        model = reference_model(ref, f)
        with torch.no_grad():  # weights with opinions: predictions far from uniform, so every target counts
            for p in model.parameters():
                p.normal_(0, 0.3, generator=gen)
        state = {k: v.clone() for k, v in model.state_dict().items()}
        start = int(torch.randint(len(val) - length, (), generator=gen))
        ids = val[start : start + length]
        obj = student.obj("model.GPT", config_obj(student, f), state_dict=state, mode="train")
        got = student.call("sweep.evaluate_loss", obj, ids, batch_size=batch_size, watch=False)["outputs"]
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, float):
            fail(f"evaluate_loss should return a Python float, got {kind(got)}")
        want = held_out_loss(model, ids)
        if not abs(got - want) <= 1e-4:
            fail(f"evaluate_loss gives {got:.5f} nats, the mean over all windows of the data is {want:.5f} "
                 f"[{length} tokens, block_size {f['block_size']}, batch_size {batch_size}, dropout {f['dropout']}]")  # fmt: skip


def test_train_model(student, ref, device):
    train, val = data()
    f = fields(2, 2, 32)
    answer = student.call("sweep.train_model", config_obj(student, f), train, steps=TRAIN_STEPS, batch_size=16, lr=3e-3,
                          seed=11, device=device, watch=False)  # fmt: skip
    model = reference_model(ref, f)
    state = expect_state_dict(answer["outputs"], model.state_dict(), "train_model's returned model")
    model = reference_model(ref, f, state)
    loss = held_out_loss(model, val)
    if not loss <= TRAIN_TARGET:
        fail(f"after {TRAIN_STEPS} steps the model scores {loss:.3f} nats on held-out text (needs {TRAIN_TARGET})")


def test_sweep_points(student, ref, device):
    train, val = data()
    configs = [fields(*size) for size in SWEEP]
    answer = student.call("sweep.sweep", [config_obj(student, f) for f in configs], train, val, steps=SWEEP_STEPS,
                          batch_size=16, lr=3e-3, seed=5, device=device, watch=False)  # fmt: skip
    out = answer["outputs"]
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail("sweep should return (points, models)")
    points, models = out
    if not isinstance(points, (tuple, list)) or not isinstance(models, (tuple, list)):
        fail("sweep should return (points, models), two lists")
    if len(points) != len(configs) or len(models) != len(configs):
        fail(f"sweep over {len(configs)} configs returned {len(points)} points and {len(models)} models")
    measured = []
    for i, (f, point, returned) in enumerate(zip(configs, points, models)):
        size = f"model {i + 1} (n_layer={f['n_layer']}, n_embd={f['n_embd']})"
        if not isinstance(point, (tuple, list)) or len(point) != 2:
            fail(f"each point should be a pair (n_params, val_loss) [{size}]")
        n_params, reported = point
        if isinstance(reported, torch.Tensor) and reported.numel() == 1:
            reported = reported.item()
        if isinstance(n_params, bool) or not isinstance(n_params, int) or not isinstance(reported, float):
            fail(
                f"each point should be (int, float), got ({type(n_params).__name__}, {type(reported).__name__}) [{size}]"
            )
        want = toys.non_embedding_parameters(f["n_layer"], f["n_embd"])
        if n_params != want:
            fail(f"sweep reports N = {n_params} for {size}; its non-embedding parameters number {want}")
        state = expect_state_dict(returned, reference_model(ref, f).state_dict(), f"sweep's {size}")
        loss = held_out_loss(reference_model(ref, f, state), val)
        if not abs(reported - loss) <= LOSS_MATCH:
            fail(f"sweep reports a validation loss of {reported:.4f} for {size}, but its returned weights score "
                 f"{loss:.4f} on the validation data")  # fmt: skip
        if not loss <= SWEEP_TRAINED:
            fail(
                f"after {SWEEP_STEPS} steps {size} scores {loss:.3f} nats on the validation data (needs {SWEEP_TRAINED})"
            )
        measured.append(loss)
    if not all(b < a for a, b in itertools.pairwise(measured)):
        fail(
            f"larger models should reach lower validation loss with the same budget: {', '.join(f'{v:.3f}' for v in measured)}"
        )
