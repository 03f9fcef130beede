"""Compute-optimal training (Hoffmann et al., 2022, "Chinchilla", sections 2 and 3).

Training a model of N parameters on D tokens costs about

    C = 6 N D  FLOPs                                (Kaplan et al., section 2.1)

2N per token for the forward pass (a multiply and an add per weight) and 4N
for the backward pass. For a fixed budget C, a bigger model sees fewer
tokens: which split gives the lowest loss?

Chinchilla answers it three ways. Approaches 1 and 2 (minimum over training
curves; IsoFLOP profiles) find N_opt ∝ C^0.50 and D_opt ∝ C^0.50: parameters
and tokens should grow in equal proportion, about 20 tokens per parameter
(Table 3: 70B parameters on 1.4T tokens at the Gopher budget of 5.76e23
FLOPs). Approach 3 fits a parametric loss to all runs,

    L(N, D) = E + A / N^α + B / D^β,   E = 1.69, A = 406.4, B = 410.7, α = 0.34, β = 0.28,

(equation 2 in section 3.3; the fitted constants are in Appendix D.2), and
minimises it on the line C = 6 N D in closed form (equation 4):

    N_opt(C) = G (C/6)^a,   D_opt(C) = G^(-1) (C/6)^b,
    G = (α A / (β B))^(1 / (α + β)),   a = β / (α + β),   b = α / (α + β).

Note which exponent goes where: N_opt's exponent has β (the DATA exponent)
on top. The estimate of the cost of a run in hardware time divides C by
what the hardware really delivers: its peak throughput in the precision
used, times the model FLOPs utilisation (MFU), the share of the peak that
the run achieves.

Every function takes Python floats (and the ones marked "elementwise" also
float64 tensors of any shape).
"""

# The fitted constants of L(N, D) = E + A / N^alpha + B / D^beta (Hoffmann et al., Appendix D.2).
CHINCHILLA = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}

# Table 3 of Hoffmann et al.: (parameters, FLOPs, tokens), the compute-optimal
# budget and data for each model size (from approach 1).
TABLE_3 = [
    (400e6, 1.92e19, 8.0e9),
    (1e9, 1.21e20, 20.2e9),
    (10e9, 1.23e22, 205.1e9),
    (67e9, 5.76e23, 1.5e12),
    (175e9, 3.85e24, 3.7e12),
    (280e9, 9.90e24, 5.9e12),
    (520e9, 3.43e25, 11.0e12),
    (1e12, 1.27e26, 21.2e12),
    (10e12, 1.30e28, 216.2e12),
]

# Dense peak throughput in FLOP/s from the vendors' datasheets (SXM parts, no sparsity).
PEAK_FLOPS = {
    "V100": {"fp32": 15.7e12, "fp16": 125e12},
    "A100": {"fp32": 19.5e12, "tf32": 156e12, "bf16": 312e12, "fp16": 312e12},
    "H100": {"fp32": 67e12, "tf32": 494.7e12, "bf16": 989.4e12, "fp16": 989.4e12},
}


def training_flops(n_params, n_tokens):
    """C = 6 N D: the FLOPs of training N parameters on D tokens (elementwise)."""
    return 2 * n_params * n_tokens


def chinchilla_loss(n_params, n_tokens, E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28):
    """L(N, D) = E + A / N^alpha + B / D^beta (elementwise); the defaults are the paper's constants."""
    return E + A / n_params**alpha + B / n_tokens**beta


def optimal_allocation_rule(flops, tokens_per_param=20.0):
    """Chinchilla's rule of thumb (approaches 1 and 2): N_opt and D_opt both grow as C^0.5.

    Args:
        flops: the budget C (elementwise).
        tokens_per_param: k, the tokens per parameter of a compute-optimal run (about 20).

    Returns:
        (n_opt, d_opt) with d_opt = k · n_opt and 6 · n_opt · d_opt = C.
    """
    n_opt = (flops / (6 * tokens_per_param)) ** 0.5
    return n_opt, tokens_per_param * n_opt


def optimal_allocation_parametric(flops, A=406.4, B=410.7, alpha=0.34, beta=0.28):
    """The minimiser of L(N, D) = E + A / N^alpha + B / D^beta on C = 6 N D (approach 3, elementwise).

    Returns:
        (n_opt, d_opt) = (G (C/6)^(beta/(alpha+beta)), (C/6)^(alpha/(alpha+beta)) / G)
        with G = (alpha A / (beta B))^(1/(alpha+beta)); E does not move the minimum.
    """
    G = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
    n_opt = G * (flops / 6) ** (beta / (alpha + beta))
    d_opt = (flops / 6) ** (alpha / (alpha + beta)) / G
    return n_opt, d_opt


def training_cost(flops, gpu="V100", precision="fp16", mfu=0.3, n_gpus=1):
    """Hardware time of a training run of `flops` FLOPs.

    Each GPU delivers PEAK_FLOPS[gpu][precision] · mfu FLOP/s (mfu in (0, 1]).

    Returns:
        {"gpu_hours": GPU time summed over all GPUs, in hours,
         "days": wall-clock days with n_gpus GPUs working in parallel}.
    """
    gpu_seconds = flops / (PEAK_FLOPS[gpu][precision] * mfu)
    gpu_hours = gpu_seconds / 3600
    return {"gpu_hours": gpu_hours, "days": gpu_hours / n_gpus / 24}


def compute_optimal_gap(n_params, n_tokens, tokens_per_param=20.0):
    """How far a run is from Chinchilla-optimal, for floats n_params = N and n_tokens = D.

    Returns a dict:
        "flops": C = 6 N D;
        "tokens_per_param": D / N;
        "n_opt", "d_opt": optimal_allocation_rule(C, tokens_per_param), the split of the same budget;
        "oversize": N / n_opt (above 1: the model is too big for its budget);
        "loss", "loss_opt": chinchilla_loss (the paper's constants) at (N, D) and at (n_opt, d_opt).
    """
    flops = training_flops(n_params, n_tokens)
    n_opt, d_opt = optimal_allocation_rule(flops, tokens_per_param)
    return {
        "flops": flops,
        "tokens_per_param": n_tokens / n_params,
        "n_opt": n_opt,
        "d_opt": d_opt,
        "oversize": n_params / n_opt,
        "loss": chinchilla_loss(n_params, n_tokens),
        "loss_opt": chinchilla_loss(n_opt, d_opt),
    }
