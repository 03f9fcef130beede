"""Power laws with an irreducible term, fitted with autograd and L-BFGS."""

import math

import torch


def power_law(x, a, alpha, c):
    if isinstance(x, torch.Tensor):
        return a * torch.exp(-alpha * torch.log(x)) + c
    return a / x**alpha + c


def log_squared_error(x, loss, a, alpha, c):
    residuals = torch.log(loss) - torch.log(power_law(x, a, alpha, c))
    return residuals.pow(2).sum().item()


def _line(v, z):
    """Least-squares (intercept, slope) of z against centred v."""
    slope = (v * (z - z.mean())).sum() / (v * v).sum()
    return z.mean(), slope


def fit_power_law(x, loss):
    x = torch.tensor(x, dtype=torch.float64) if not torch.is_tensor(x) else x.detach().to(torch.float64).reshape(-1)
    loss = (
        torch.tensor(loss, dtype=torch.float64)
        if not torch.is_tensor(loss)
        else loss.detach().to(torch.float64).reshape(-1)
    )
    x, loss = x.reshape(-1), loss.reshape(-1)
    if len(x) != len(loss) or len(x) < 3:
        raise ValueError("need at least 3 (x, loss) pairs of equal length")
    if (
        bool((x <= 0).any())
        or bool((loss <= 0).any())
        or not bool(torch.isfinite(x).all() & torch.isfinite(loss).all())
    ):
        raise ValueError("x and loss must be positive")
    mean_u = torch.log(x).mean()
    v = torch.log(x) - mean_u  # centred ln x
    y = torch.log(loss)

    def S(b, slope, c):
        return ((y - torch.log(torch.exp(b + slope * v) + c)) ** 2).sum()

    # c = 0: the exact least-squares line
    b0, s0 = _line(v, y)
    candidates = [(S(b0, s0, 0.0).item(), b0.item(), s0.item(), 0.0)]
    # start L-BFGS from the best of a coarse scan of c
    starts = []
    for share in torch.linspace(0, 0.999, 40, dtype=torch.float64).tolist():
        c0 = share * loss.min().item()
        b, slope = _line(v, torch.log(loss - c0))
        starts.append((S(b, slope, c0).item(), b.item(), slope.item(), c0))
    _, b, slope, c0 = min(starts)
    theta = torch.tensor([b, slope, c0**0.5], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [theta],
        lr=1,
        max_iter=200,
        tolerance_grad=1e-12,
        tolerance_change=1e-24,
        history_size=20,
        line_search_fn="strong_wolfe",
    )

    def closure():
        optimizer.zero_grad()
        value = S(theta[0], theta[1], theta[2] ** 2)
        value.backward()
        return value

    optimizer.step(closure)
    with torch.no_grad():
        b, slope, root = theta.tolist()
        candidates.append((S(theta[0], theta[1], theta[2] ** 2).item(), b, slope, root**2))
    _, b, slope, c = min(candidates)
    alpha = -slope
    a = math.exp(b + alpha * mean_u.item())  # b = ln a - alpha * mean ln x
    return a, alpha, c
