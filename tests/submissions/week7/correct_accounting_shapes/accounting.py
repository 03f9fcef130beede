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

import math

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


def tensor_shapes(config):
    """The shape of every parameter tensor of GPT(config), the embeddings first."""
    d, bias = config.n_embd, config.bias
    shapes = [(config.vocab_size, d), (config.block_size, d)]
    for _ in range(config.n_layer):
        shapes += [(d,), (3 * d, d), (d, d), (d,), (4 * d, d), (d, 4 * d)]
        if bias:
            shapes += [(d,), (3 * d,), (d,), (d,), (4 * d,), (d,)]
    shapes += [(d,), (d,)] if bias else [(d,)]
    return shapes


def count_parameters(config, non_embedding=False):
    """Every tensor once, from its shape."""
    shapes = tensor_shapes(config)
    return sum(math.prod(s) for s in (shapes[2:] if non_embedding else shapes))


def forward_flops_per_token(config):
    """2 FLOPs per non-embedding weight, plus the attention over the context in every layer."""
    weights = sum(math.prod(s) for s in tensor_shapes(config)[2:])
    attention = config.n_layer * (2 * config.block_size * config.n_embd)
    return 2 * weights + attention


def training_flops_per_token(config):
    """forward + backward (twice the forward)."""
    forward = forward_flops_per_token(config)
    return forward + 2 * forward


def training_flops(n_params, n_tokens):
    """2 N D forward, 4 N D backward."""
    return float(2 * n_params * n_tokens + 4 * n_params * n_tokens)


STATE_BYTES = {"fp32": {"weights": 4, "gradients": 4, "optimizer": 8}, "mixed": {"weights": 2, "gradients": 2, "optimizer": 12}}
PARTITIONED_FROM_STAGE = {"optimizer": 1, "gradients": 2, "weights": 3}


def model_state_bytes(n_params, precision="mixed", zero_stage=0, n_devices=1):
    """A table of bytes per parameter; a state is split over the devices from its ZeRO stage on."""
    out = {}
    for key, per_param in STATE_BYTES[precision].items():
        share = 1 / n_devices if zero_stage >= PARTITIONED_FROM_STAGE[key] else 1
        out[key] = per_param * n_params * share
    out["total"] = sum(out.values())
    return out


def activation_bytes(config, batch_size, seq_len=None, recompute="none"):
    """s b (34 h + 5 a s) per layer, written with integers only."""
    s = seq_len or config.block_size
    b, h, a, L = batch_size, config.n_embd, config.n_head, config.n_layer
    if recompute == "full":
        return 2 * L * s * b * h
    if recompute == "selective":
        return 34 * L * s * b * h
    return L * s * b * (34 * h + 5 * a * s)


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
