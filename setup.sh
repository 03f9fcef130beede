#!/usr/bin/env bash
# Set up the course kit on a fresh machine and grade Week 1's reference solution.
#
#   bash setup.sh            # makes .venv, installs everything, runs the main job
#
# Afterwards `source .venv/bin/activate` puts the `course` command on your PATH.
# Set COURSE_PYTHON to choose the interpreter (default: python3).
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${COURSE_PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
VENV_PY=.venv/bin/python
"$VENV_PY" -m pip install --quiet --upgrade pip
# torch first, pinned: a looser requirement could pull a multi-GB CUDA build where a CPU one would do.
"$VENV_PY" -m pip install --quiet "torch==2.13.0"
"$VENV_PY" -m pip install --quiet -e .

echo "== generated files in step with source/?"
.venv/bin/course build --check
echo "== grading Week 1's reference solution with the hidden suite"
.venv/bin/course grade week1 --submission solutions/week1 --json results-week1.json
echo "== done: results in results-week1.json; run 'source .venv/bin/activate' to use 'course'"
