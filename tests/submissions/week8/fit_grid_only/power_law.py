"""Power laws with an irreducible term, and fitting them (Kaplan et al., 2020, sections 1.2 and 3; Hoffmann et al., 2022, section 3).

Kaplan et al. found that the test loss of a language model falls as a power
law in each of the three resources that make it, when the other two are not
the bottleneck: parameters N, data D (tokens) and compute C (FLOPs),

    L(x) = a · x^(-α) + c,        x = N, D or C,  a > 0,  c >= 0.

The exponent α says how fast more of x helps (Kaplan: α_N ≈ 0.076,
α_D ≈ 0.095, α_C ≈ 0.050); c is the loss no amount of x removes (the
entropy of the text, plus whatever the other resources limit). On a log-log
plot, L - c (not L) is a straight line of slope -α.

Fitting. Given measured points (x_i, L_i), i = 1..n, the fit is the
minimiser of the squared error in log loss,

    S(a, α, c) = Σ_i ( ln L_i - ln(a · x_i^(-α) + c) )^2,    over a > 0, c >= 0, α real.

Errors in log L weigh every point by its relative error, so the small
losses of the largest runs count as much as the large losses of the small
ones (least squares in L itself would nearly ignore the tail of a curve
spanning decades). Whatever method finds the minimiser is correct; one that
works:

1. For fixed c the curve is linear in log space: ln(L_i - c) = ln a - α ln x_i.
   Scan c over [0, min L) on a grid, fit (ln a, α) by linear least squares
   for each c, and keep the (a, α, c) with the smallest S (not the smallest
   error of the linear fit, which is a different objective).
2. From there, refine all three by Gauss-Newton / Levenberg-Marquardt steps
   on S (or Adam on (ln a, α, c)), keeping c >= 0. When the best c is 0 the
   fit is the pure power law, whose (ln a, α) the linear fit of
   ln L against ln x gives exactly.

No scipy: torch (or numpy) only. Work in float64.
"""

import math

import torch


def power_law(x, a, alpha, c):
    """L(x) = a · x^(-alpha) + c, elementwise.

    Args:
        x: a tensor (any shape, positive) or a positive number.
        a, alpha, c: numbers.

    Returns:
        The same type and shape as x (a tensor keeps x's dtype).
    """
    return a * x ** (-alpha) + c


def log_squared_error(x, loss, a, alpha, c):
    """S(a, alpha, c) = Σ_i (ln loss_i - ln(a · x_i^(-alpha) + c))^2, the objective of fit_power_law.

    Args:
        x, loss: (n,) float64 tensors of positive values.
        a, alpha, c: numbers, with a > 0 and c >= 0.

    Returns:
        A Python float: the sum (not the mean) over the n points.
    """
    prediction = a * torch.exp(-alpha * torch.log(x)) + c  # (n,), stable for huge x
    return float(((torch.log(loss) - torch.log(prediction)) ** 2).sum())


def fit_power_law(x, loss):
    """Fit L(x) = a · x^(-alpha) + c to points (x_i, loss_i) by minimising S (see the module docstring).

    Args:
        x: (n,) positive values (N, D or C of each run), as a 1-D tensor of any
            float dtype or a list; any order, repeats allowed. Not modified.
        loss: (n,) positive losses, the same way.

    Returns:
        (a, alpha, c): three Python floats with a > 0 and c >= 0, the
        minimiser of S over a > 0, c >= 0 (alpha is positive when the loss
        falls with x). Natural logarithms throughout: a is the coefficient of
        x^(-alpha), not its logarithm.

    Raises:
        ValueError: fewer than 3 points, x and loss of different lengths, or
            any x or loss <= 0 (or not finite).
    """
    x = torch.as_tensor(x, dtype=torch.float64).flatten()
    loss = torch.as_tensor(loss, dtype=torch.float64).flatten()
    if x.numel() != loss.numel():
        raise ValueError(f"x has {x.numel()} values and loss {loss.numel()}")
    if x.numel() < 3:
        raise ValueError("fitting three parameters needs at least 3 points")
    if not (torch.isfinite(x).all() and torch.isfinite(loss).all() and (x > 0).all() and (loss > 0).all()):
        raise ValueError("x and loss must be positive and finite")
    u, y = torch.log(x), torch.log(loss)  # (n,)

    def objective(theta):  # S at theta = (ln a, alpha, c), (..., 3) -> (...)
        prediction = torch.exp(theta[..., :1] - theta[..., 1:2] * u) + theta[..., 2:]  # (..., n)
        return ((y - torch.log(prediction)) ** 2).sum(-1)

    def linear_fit(c):  # least-squares lines through (ln x, ln(loss - c)), one per c: (G,) -> (G, 3)
        z = torch.log(loss - c.unsqueeze(1))  # (G, n)
        du = u - u.mean()
        alpha = -((z - z.mean(1, keepdim=True)) * du).sum(1) / (du**2).sum()
        return torch.stack([z.mean(1) + alpha * u.mean(), alpha, c], dim=1)

    def refine(theta, iters=200):  # Levenberg-Marquardt on S, c projected onto c >= 0
        best, damping = objective(theta), 1e-3
        for _ in range(iters):
            p = torch.exp(theta[0] - theta[1] * u)  # a x^-alpha, (n,)
            q = p + theta[2]
            J = torch.stack([-p / q, p * u / q, -1 / q], dim=1)  # d(residual)/d(theta), (n, 3)
            JtJ, g = J.T @ J, J.T @ (y - torch.log(q))
            while damping < 1e12:
                trial = theta + torch.linalg.solve(JtJ + damping * torch.diag(JtJ.diag() + 1e-12), -g)
                trial[2] = trial[2].clamp(min=0.0)
                value = objective(trial)
                if value < best:
                    theta, best, gain, damping = trial, value, best - value, max(damping / 3, 1e-12)
                    break
                damping *= 4
            if damping >= 1e12 or gain <= 1e-15 * best:
                break
        return theta

    grid = loss.min() * (1 - torch.logspace(0, -6, 300, dtype=torch.float64))  # c from 0 to just below min loss
    starts = linear_fit(grid)  # (G, 3); the first, c = 0, is the exact best fit with c = 0
    fits = torch.stack([starts[0], starts[objective(starts).argmin()]])  # (2, 3)
    log_a, alpha, c = fits[objective(fits).argmin()].tolist()
    return math.exp(log_a), alpha, c
