"""The arithmetic of scale: parameters, FLOPs and memory of a GPT, from its config alone.

Everything here is about the decoder of gpt.py (GPT-2/GPT-3 style: learned
positions, tied output layer, biases and LayerNorms as config.bias says),
with d = n_embd (Kaplan's d_model = d_attn), d_ff = 4d, n_ctx = block_size,
V = vocab_size, L = n_layer.

Parameters (exact, every tensor of gpt.py counted once; the tied lm_head is
the token embedding, so it adds nothing):

    embedding      V d + n_ctx d                  (token + position)
    per block      12 d^2 + 2 d + bias * 11 d      (c_attn 3d^2, c_proj d^2, c_fc 4d^2, c_proj 4d^2;
                                                  LayerNorm weights 2d; biases 3d + d + 4d + d + LayerNorm 2d)
    final norm     d + bias * d

"Non-embedding" parameters (Kaplan et al. 2020, section 2.1) leave out the
two embedding matrices (token and position): N = total - V d - n_ctx d.

FLOPs per token (Kaplan et al. 2020, Table 1): a matrix-vector product with
an m x n matrix costs 2 m n FLOPs (a multiply and an add per weight), so

    C_forward = 2 N + 2 n_layer n_ctx d_attn       N = non-embedding parameters
                                                   the second term: attention scores and their sum of values
    C_train   = 3 C_forward                        backward = twice the forward
    C         ~ 6 N D for D training tokens        (Brown et al. 2020, appendix D; their N is the total count)

Memory of the model states (Rajbhandari et al. 2020, ZeRO, section 3.1), per
parameter, training with Adam(W):

    fp32:   4 (weights) + 4 (gradients) + 8 (Adam's momentum and variance, fp32)      = 16 bytes
    mixed:  2 (fp16/bf16 weights) + 2 (fp16/bf16 gradients)
            + 12 (fp32 master weights, momentum and variance: ZeRO's K = 12)          = 16 bytes

Activations (Korthikanti et al. 2022, "Reducing Activation Recomputation in
Large Transformer Models", section 4): one layer keeps, for a micro-batch of
b sequences of s tokens, 16-bit activations and 1-byte dropout masks, no
tensor or sequence parallelism,

    s b h (34 + 5 a s / h) = 34 s b h + 5 a s^2 b  bytes     h = d_model, a = n_head
"""

from gpt import GPTConfig

GPT3_SIZES = {  # Brown et al. (2020), Table 2.1: name -> (n_layer, d_model, n_head, published parameter count)
    "small": (12, 768, 12, 125e6),
    "medium": (24, 1024, 16, 350e6),
    "large": (24, 1536, 16, 760e6),
    "xl": (24, 2048, 16, 1.3e9),  # Table 2.1 prints 24 heads of d_head 128, which make 3072: 16 make 2048
    "2.7b": (32, 2560, 32, 2.7e9),
    "6.7b": (32, 4096, 32, 6.7e9),
    "13b": (40, 5120, 40, 13.0e9),  # Table 2.1 prints 5140; its 40 heads of d_head 128 make 5120
    "175b": (96, 12288, 96, 175.0e9),
}
GPT3_TOKENS = 300e9  # every GPT-3 model was trained on 300 billion tokens
PF_DAY = 1e15 * 24 * 3600  # a petaflop/s-day, the unit of GPT-3's Table D.1: 8.64e19 FLOPs
BYTES = {"fp32": 4, "fp16": 2, "bf16": 2}


def gpt3_config(name):
    """The GPTConfig of a GPT-3 model of Table 2.1 (n_ctx 2048, the GPT-2 vocabulary of 50257 tokens)."""
    n_layer, d_model, n_head, _ = GPT3_SIZES[name]
    return GPTConfig(vocab_size=50257, block_size=2048, n_layer=n_layer, n_head=n_head, n_embd=d_model)


def count_parameters(config, non_embedding=False):
    """The number of parameters of GPT(config), from the config alone (no model is built).

    Args:
        config: a GPTConfig (or anything with vocab_size, block_size, n_layer, n_embd, bias).
        non_embedding: leave out the token and position embeddings (Kaplan's N).

    Returns:
        An int, equal to sum(p.numel() for p in GPT(config).parameters())
        (which counts the tied lm_head / wte tensor once), minus
        (vocab_size + block_size) * n_embd when non_embedding is True.
        See the module docstring for the term of each tensor.
    """
    d, L, bias = config.n_embd, config.n_layer, int(config.bias)
    total = 12 * L * d * d  # Kaplan's N
    if not non_embedding:
        total += config.vocab_size * d + config.block_size * d
    return total


def forward_flops_per_token(config):
    """Kaplan et al.'s forward-pass FLOPs per token, C_forward = 2 N + 2 n_layer n_ctx d_attn.

    Args:
        config: a GPTConfig; N = count_parameters(config, non_embedding=True),
            n_ctx = config.block_size, d_attn = config.n_embd.

    Returns:
        An int. The 2 N counts a multiply and an add for every weight of
        every matrix the token goes through; 2 n_layer n_ctx d_attn is
        Kaplan's attention term (the scores q.k and the weighted sum of
        values over the n_ctx positions of the context). The embedding
        lookups and the output layer (2 d V, Kaplan's "de-embed") are left out.
    """
    N = count_parameters(config, non_embedding=True)
    return 2 * N + 2 * config.n_layer * config.block_size * config.n_embd


def training_flops_per_token(config):
    """FLOPs per token of one training step: forward + backward = 3 x forward (an int).

    The backward pass costs twice the forward: for every matrix product it
    computes the gradient with respect to the input and with respect to the weights.
    """
    return 3 * forward_flops_per_token(config)


def training_flops(n_params, n_tokens):
    """The total training compute C = 6 N D of the GPT-3 paper (appendix D), in FLOPs (a float).

    Args:
        n_params: N, the number of parameters (GPT-3 uses the total count).
        n_tokens: D, the number of training tokens.

    GPT-3 175B on 300B tokens: about 3.14e23 FLOPs, 3640 petaflop/s-days (PF_DAY).
    """
    return 6.0 * n_params * n_tokens


def model_state_bytes(n_params, precision="mixed", zero_stage=0, n_devices=1):
    """Bytes of the model states of Adam(W) training, per device (ZeRO, sections 3.1 and 5).

    Args:
        n_params: Psi, the number of parameters.
        precision: "fp32": fp32 weights (4 bytes), fp32 gradients (4) and
            Adam's momentum and variance (4 + 4). "mixed": fp16 or bf16 weights
            (2) and gradients (2), and an optimizer state of K = 12 bytes:
            fp32 master weights, momentum and variance.
        zero_stage: 0 (plain data parallelism: every device holds everything),
            1 (the optimizer state is partitioned over the devices), 2 (and the
            gradients), 3 (and the weights): a partitioned part costs 1/n_devices.
        n_devices: N_d, the data-parallel devices.

    Returns:
        {"weights": float, "gradients": float, "optimizer": float, "total": float},
        bytes on one device; total is the sum of the three. Mixed precision,
        Psi = 7.5e9, N_d = 64 (ZeRO's Figure 1): 120 GB at stage 0, 31.4 GB
        at stage 1, 16.6 GB at stage 2, 1.9 GB at stage 3.
    """
    if precision == "fp32":
        weights, gradients, optimizer = 4.0 * n_params, 4.0 * n_params, 8.0 * n_params
    elif precision == "mixed":
        weights, gradients, optimizer = 2.0 * n_params, 2.0 * n_params, 12.0 * n_params
    else:
        raise ValueError(f"precision should be 'fp32' or 'mixed', got {precision!r}")
    if zero_stage >= 1:
        optimizer /= n_devices
    if zero_stage >= 2:
        gradients /= n_devices
    if zero_stage >= 3:
        weights /= n_devices
    total = weights + gradients + optimizer
    return {"weights": weights, "gradients": gradients, "optimizer": optimizer, "total": total}


def activation_bytes(config, batch_size, seq_len=None, recompute="none"):
    """Bytes of activations kept for the backward pass by the n_layer blocks (Korthikanti et al. 2022).

    Args:
        config: a GPTConfig: h = n_embd, a = n_head, L = n_layer.
        batch_size: b, sequences in the micro-batch.
        seq_len: s, tokens per sequence (default config.block_size).
        recompute: "none": every layer keeps s b h (34 + 5 a s / h) bytes
            (= 34 s b h + 5 a s^2 b: 16-bit activations, 1-byte dropout masks;
            the 5 a s^2 b are the attention scores, softmax and its dropout).
            "selective": the attention scores, softmax and dropout are
            recomputed, 34 s b h bytes per layer. "full": each layer keeps
            only its 16-bit input, 2 s b h bytes, and recomputes the rest.

    Returns:
        An int: L times the bytes of one layer. The embeddings, the final
        LayerNorm and the output layer are not counted.
    """
    s = config.block_size if seq_len is None else seq_len
    b, h, a = batch_size, config.n_embd, config.n_head
    per_layer = {"none": 34 * s * b * h + 5 * a * s * s * b, "selective": 34 * s * b * h, "full": 2 * s * b * h}
    if recompute not in per_layer:
        raise ValueError(f"recompute should be 'none', 'selective' or 'full', got {recompute!r}")
    return config.n_layer * per_layer[recompute]


def gpt3_table():
    """Experiment (given, not graded): parameters, training compute and memory of every GPT-3 size."""
    print(f"{'model':>6} {'params':>9} {'paper':>7} {'6ND PF-days':>12} {'fwd GFLOP/tok':>14} {'states (mixed)':>15}")
    for name, (*_, published) in GPT3_SIZES.items():
        config = gpt3_config(name)
        n = count_parameters(config)
        pf_days = training_flops(n, GPT3_TOKENS) / PF_DAY
        states = model_state_bytes(n, "mixed")["total"]
        print(
            f"{name:>6} {n / 1e9:8.3f}B {published / 1e9:6.3g}B {pf_days:12.1f} "
            f"{forward_flops_per_token(config) / 1e9:14.2f} {states / 1e9:12.0f} GB"
        )
