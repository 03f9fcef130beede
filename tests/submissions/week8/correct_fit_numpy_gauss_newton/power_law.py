"""Power laws with an irreducible term, fitted in numpy by projected Gauss-Newton."""

import numpy as np
import torch


def power_law(x, a, alpha, c):
    return a * x ** (-alpha) + c


def log_squared_error(x, loss, a, alpha, c):
    x, loss = np.asarray(x, dtype=np.float64), np.asarray(loss, dtype=np.float64)
    return float(np.sum((np.log(loss) - np.log(a * np.exp(-alpha * np.log(x)) + c)) ** 2))


def _array(values):
    if torch.is_tensor(values):
        values = values.detach().cpu().double().numpy()
    return np.array(values, dtype=np.float64).ravel()  # a copy: the caller's data stays as it was


def fit_power_law(x, loss):
    x, loss = _array(x), _array(loss)
    if x.size != loss.size:
        raise ValueError("x and loss differ in length")
    if x.size < 3:
        raise ValueError("at least 3 points")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(loss)) and np.all(x > 0) and np.all(loss > 0)):
        raise ValueError("x and loss must be positive")
    # work in base 10 for the sizes: L = 10^(b - alpha * w) + c with w = log10 x - mean
    w_mean = np.log10(x).mean()
    w = np.log10(x) - w_mean
    y = np.log(loss)

    def residuals(p):
        return y - np.log(10 ** (p[0] - p[1] * w) + p[2])

    def cost(p):
        return float(np.sum(residuals(p) ** 2))

    best = None
    for share in (0.0, 0.5, 0.9, 0.999):
        c0 = share * loss.min()
        slope, intercept = np.polyfit(w, np.log10(loss - c0), 1)
        p = np.array([intercept, -slope, c0])
        for _ in range(500):
            power = 10 ** (p[0] - p[1] * w)
            q = power + p[2]
            jac = np.stack([-np.log(10) * power / q, np.log(10) * w * power / q, -1 / q], axis=1)
            free = [0, 1] if p[2] == 0.0 and jac[:, 2] @ residuals(p) > 0 else [0, 1, 2]  # at the bound c = 0
            step = np.zeros(3)
            step[free] = np.linalg.lstsq(jac[:, free], -residuals(p), rcond=None)[0]
            t, now = 1.0, cost(p)
            while t > 1e-12:
                trial = p + t * step
                trial[2] = max(trial[2], 0.0)
                if cost(trial) < now:
                    break
                t /= 2
            else:
                break
            done = now - cost(trial) <= 1e-16 * max(now, 1e-300)
            p = trial
            if done:
                break
        if best is None or cost(p) < cost(best):
            best = p
    b, alpha, c = best
    a = 10 ** (b + alpha * w_mean)
    return float(a), float(alpha), float(c)  # 10^(-alpha log10 x) = x^(-alpha): the same alpha
