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
    ### BEGIN SOLUTION
    B = src.size(0)
    src_mask = padding_mask(src, pad_id)  # (B, 1, 1, S)
    memory = model.encode(src, src_mask)  # (B, S, d_model)
    out = torch.full((B, max_len + 1), pad_id, dtype=torch.long, device=src.device)
    out[:, 0] = bos_id
    done = torch.zeros(B, dtype=torch.bool, device=src.device)
    for t in range(1, max_len + 1):
        logits = model.decode(out[:, :t], memory, src_mask)  # (B, t, V)
        next_token = logits[:, -1].argmax(dim=-1).masked_fill(done, pad_id)  # (B,)
        out[:, t] = next_token
        done = done | (next_token == eos_id)
        if done.all():
            break
    return out
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    src = src.unsqueeze(0)  # (1, S)
    src_mask = padding_mask(src, pad_id)  # (1, 1, 1, S)
    memory = model.encode(src, src_mask)  # (1, S, d_model)
    live = torch.full((1, 1), bos_id, dtype=torch.long, device=src.device)  # (k, t)
    live_scores = torch.zeros(1, dtype=torch.float64, device=src.device)  # (k,)
    finished = []  # (normalised score, tokens)
    for t in range(1, max_len + 1):
        k = live.size(0)
        logits = model.decode(live, memory.expand(k, -1, -1), src_mask.expand(k, -1, -1, -1))  # (k, t, V)
        logp = torch.log_softmax(logits[:, -1].double(), dim=-1)  # (k, V)
        V = logp.size(-1)
        candidates = (live_scores[:, None] + logp).reshape(-1)  # (k * V,)
        top = candidates.topk(min(beam_size, candidates.numel()))
        parent, token = top.indices // V, top.indices % V
        sequences = torch.cat([live[parent], token[:, None]], dim=1)  # (beam, t + 1)
        ended = (token == eos_id) | (t == max_len)
        for i in ended.nonzero().flatten().tolist():
            finished.append((top.values[i].item() / t**alpha, sequences[i]))
        live, live_scores = sequences[~ended], top.values[~ended]
        if live.size(0) == 0:
            break
    score, tokens = max(finished, key=lambda f: f[0])
    return tokens, score
    ### END SOLUTION


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
