"""LoRA: low-rank adaptation of a frozen linear layer (Hu et al. 2021, section 4.1).

Fine-tuning changes a pretrained weight W0 (d_out x d_in) into W0 + ΔW. LoRA
bets that ΔW has a low "intrinsic rank" and writes it as a product

    ΔW = B A · (alpha / r),      B: (d_out, r),  A: (r, d_in),  r << min(d_in, d_out)

W0 stays frozen; only A and B are trained: r (d_in + d_out) numbers instead
of d_in d_out. The layer computes

    h = W0 x + b + B A x · (alpha / r)

and starts as the pretrained layer exactly, because B starts at zero. After
training, ΔW can be added into W0 ("merged"), so inference costs nothing
extra, and subtracted again ("unmerged") to swap in another adapter.

Conventions (those of the reference code, microsoft/LoRA's loralib, and of
PEFT): x is a row vector, so the update is x @ A.T @ B.T; dropout, when asked
for, applies to the input of the LoRA path only, never to the frozen path.
"""

import math

import torch
from torch import nn


class LoRALinear(nn.Module):
    """A frozen nn.Linear plus a trainable low-rank update (Hu et al. 2021, equation 3).

        forward(x) = base(x) + dropout(x) @ lora_A.T @ lora_B.T * scaling,     scaling = alpha / r

    Args:
        base: the pretrained nn.Linear(in_features, out_features), kept as
            `self.base` (the same object, so its weights are not copied) and
            frozen: base.weight and base.bias (when there is one) get
            requires_grad = False.
        r: the rank of the update.
        alpha: the scale numerator: the update is multiplied by alpha / r, so
            changing r does not change how large the update starts out.
        dropout: the probability of nn.Dropout on the input of the LoRA path
            (self.dropout; nn.Identity when 0).

    Parameters (the names are fixed: they are what an adapter file stores):
        lora_A: (r, in_features), random: nn.init.kaiming_uniform_(a=sqrt(5)),
            nn.Linear's own initialisation and the reference LoRA code's
            (any random initialisation works, the paper draws A from a Gaussian;
            A must not be zero, or B would get no gradient).
        lora_B: (out_features, r), zeros: at initialisation the update is 0 and
            the layer equals base exactly.

    Attributes: r, alpha, scaling = alpha / r, merged (a bool, False until merge()).

    Shapes: x (..., in_features) -> (..., out_features).
    """

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0):
        super().__init__()
        ### BEGIN SOLUTION
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.r, self.alpha = r, alpha
        self.scaling = alpha / r
        weight = base.weight
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, dtype=weight.dtype, device=weight.device))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, dtype=weight.dtype, device=weight.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.merged = False
        ### END SOLUTION

    def delta_weight(self) -> torch.Tensor:
        """ΔW = lora_B @ lora_A * scaling: (out_features, in_features), the update as one matrix."""
        ### BEGIN SOLUTION
        return self.lora_B @ self.lora_A * self.scaling
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """base(x) + dropout(x) @ A.T @ B.T * scaling; once merged, base(x) alone (ΔW is inside base.weight).

        x: (..., in_features) -> (..., out_features). Multiply x by A first, (..., in) @ (in, r), then
        by B: r (in + out) multiplications per row, where forming ΔW would take in · out r.
        """
        ### BEGIN SOLUTION
        out = self.base(x)  # (..., out)
        if self.merged:
            return out
        return out + (self.dropout(x) @ self.lora_A.T) @ self.lora_B.T * self.scaling  # (..., r) then (..., out)
        ### END SOLUTION

    @torch.no_grad()
    def merge(self) -> None:
        """Fold the update into the frozen weight: base.weight += ΔW, merged = True.

        The output of forward (in eval mode) is the same before and after. On a
        layer that is already merged, merge() changes nothing.
        """
        ### BEGIN SOLUTION
        if not self.merged:
            self.base.weight += self.delta_weight()
            self.merged = True
        ### END SOLUTION

    @torch.no_grad()
    def unmerge(self) -> None:
        """Take the update out again: base.weight -= ΔW, merged = False (the pretrained weight, up to rounding).

        On a layer that is not merged, unmerge() changes nothing.
        """
        ### BEGIN SOLUTION
        if self.merged:
            self.base.weight -= self.delta_weight()
            self.merged = False
        ### END SOLUTION

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha}"


def matches(name: str, target_modules) -> bool:
    """Whether the qualified module name `name` ends with one of `target_modules`, component by component.

    A target t matches when name == t or name ends with "." + t (PEFT's rule):
    "q" matches "blocks.0.attn.q" but not "blocks.0.attn.qk" nor "seq";
    "attn.o" matches "blocks.1.attn.o" but not "blocks.1.mlp.o".
    """
    ### BEGIN SOLUTION
    return any(name == t or name.endswith("." + t) for t in target_modules)
    ### END SOLUTION


def inject_lora(model: nn.Module, target_modules, r: int, alpha: float, dropout: float = 0.0) -> nn.Module:
    """Put LoRA into a model: wrap the chosen linear layers, freeze everything else.

    Every nn.Linear whose qualified name (as model.named_modules() gives it)
    `matches` one of target_modules is replaced, in its parent module, by
    LoRALinear(that layer, r, alpha, dropout); modules of other types are left
    alone even when their name matches. Then every parameter of the model
    except the LoRA matrices gets requires_grad = False: the other weights,
    every bias, LayerNorms, embeddings, the output layer.

    Args:
        model: any nn.Module (modified in place).
        target_modules: a list of names, e.g. ["q", "v"] (the paper adapts W_q
            and W_v) or ["attn.o"].
        r, alpha, dropout: as in LoRALinear.

    Returns:
        The same model object, with its LoRA layers. A replaced layer's
        parameters are then named "<name>.base.weight", "<name>.base.bias",
        "<name>.lora_A" and "<name>.lora_B".
    """
    ### BEGIN SOLUTION
    for p in model.parameters():
        p.requires_grad_(False)
    chosen = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear) and matches(n, target_modules)]
    for name, module in chosen:
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, LoRALinear(module, r, alpha, dropout))
    return model
    ### END SOLUTION


def count_trainable_parameters(model: nn.Module) -> int:
    """The number of numbers the optimizer will train: the total size of the parameters with
    requires_grad, each parameter once (a parameter shared by two modules counts once)."""
    ### BEGIN SOLUTION
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
    ### END SOLUTION
