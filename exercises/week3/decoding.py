"""Decoding: greedy search and beam search (Vaswani et al., 2017, section 6.1).

Both work with any model that has

    model.encode(src, src_mask) -> memory
    model.decode(tgt, memory, src_mask) -> logits (B, T, V)

(the Transformer of transformer.py, or any other model with these two
methods), where logits[:, t] scores the token that follows tgt[:, :t + 1],
and src_mask = data.padding_mask(src, pad_id). Probabilities are the
softmax of the logits at the last position.

Greedy search appends the most probable next token until EOS or max_len.

Beam search keeps the beam_size best partial hypotheses instead of one.
A hypothesis is the list of generated tokens y_1 .. y_m after BOS; its
score is the sum of log p(y_t | y_<t, src), and it is finished when it
ends in EOS, or when m = max_len (it then counts as finished without EOS).
Finished hypotheses are ranked by the length-normalised score

    score(y) = sum_t log p(y_t | y_<t, src) / m^alpha,

where m counts the generated tokens, EOS included and BOS not (the paper
uses alpha = 0.6, from Wu et al., 2016; alpha = 0 is the raw sum). With a
beam as large as the number of possible hypotheses the search is exact: it
returns the hypothesis with the highest normalised score.
"""

import torch
from data import BOS, EOS, PAD, padding_mask


@torch.no_grad()
def greedy_decode(model, src, max_len, bos_id=BOS, eos_id=EOS, pad_id=PAD):
    """Greedy decoding of a batch.

    Args:
        model: has encode and decode (see the module docstring).
        src: (B, S) source token ids, padded with pad_id.
        max_len: the most tokens to generate after BOS (EOS included).
        bos_id, eos_id, pad_id: the special tokens.

    Returns:
        (B, max_len + 1) long tensor: column 0 is BOS, then the argmax
        tokens; once a row has produced EOS, every later position of that
        row is pad_id. Decoding stops early when every row has produced EOS
        (the rest stays pad_id).
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement greedy_decode in decoding.py')


@torch.no_grad()
def beam_search(model, src, beam_size, max_len, bos_id=BOS, eos_id=EOS, alpha=0.6, pad_id=PAD):
    """Beam search for one source sequence.

    At each step t = 1 .. max_len, every live hypothesis is extended by every
    token of the vocabulary; of all these extensions the beam_size with the
    highest sum of log-probabilities are kept. Those that end in EOS are
    finished (they leave the beam and are never extended); the others stay
    live. The search stops when no hypothesis is live, or after step
    max_len, when the live ones count as finished too. The result is the
    finished hypothesis with the highest length-normalised score
    sum(log p) / m^alpha (m = generated tokens, EOS included).

    With beam_size = 1 this is greedy decoding.

    Args:
        model: has encode and decode (see the module docstring).
        src: (S,) one source sequence (it may end in padding).
        beam_size: number of hypotheses kept per step.
        max_len: the most tokens to generate after BOS (EOS included).
        alpha: the length-normalisation exponent.

    Returns:
        tokens: (m + 1,) long tensor, BOS y_1 .. y_m (ending in EOS unless
            the hypothesis reached max_len without it).
        score: its length-normalised score, a Python float.
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement beam_search in decoding.py')


def plot_attention(model, src, max_len, path="attention.png"):
    """Greedy-decode one source (S,) and plot the cross-attention weights of the
    last decoder layer, one panel per head (rows: target positions, columns:
    source positions); save a PNG at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    captured = []
    layer = model.decoder_layers[-1].cross_attn
    handle = layer.register_forward_hook(lambda module, inputs, output: captured.append(output[1]))
    try:
        tokens = greedy_decode(model, src[None], max_len)[0]
        captured.clear()
        with torch.no_grad():
            model.decode(tokens[None, :-1], model.encode(src[None], padding_mask(src[None])), padding_mask(src[None]))
    finally:
        handle.remove()
    weights = captured[-1][0].cpu()  # (H, T, S)
    H = weights.size(0)
    fig, axes = plt.subplots(1, H, figsize=(2.6 * H, 2.8), squeeze=False)
    for h, ax in enumerate(axes[0]):
        ax.imshow(weights[h], cmap="viridis", vmin=0.0, vmax=1.0)
        ax.set(title=f"head {h}", xlabel="source position", ylabel="target position")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return tokens, weights
