#!/usr/bin/env bash
# Set up the course kit on a fresh machine and grade every week's reference solution.
#
#   bash setup.sh            # makes .venv, installs everything, runs the main job
#
# Afterwards `source .venv/bin/activate` puts the `course` command on your PATH.
# Set COURSE_PYTHON to choose the interpreter (default: python3).
set -euo pipefail
cd "$(dirname "$0")"

# The grader runs each submission inside bubblewrap (no network, course files hidden) when
# `bwrap` is there, and falls back to weaker isolation when it is not (see README).
if ! command -v bwrap >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "== installing bubblewrap, the grading sandbox"
        if ! { apt-get install -y -q bubblewrap >/dev/null 2>&1 ||
               { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q bubblewrap >/dev/null 2>&1; }; }; then
            echo "note: could not install bubblewrap; grading falls back to weaker isolation (see README)"
        fi
    else
        echo "note: bubblewrap (bwrap) is not installed; grading falls back to weaker isolation."
        echo "      Install it to hide course files from submissions: sudo apt-get install bubblewrap"
        echo "      (or: sudo dnf install bubblewrap, sudo pacman -S bubblewrap)"
    fi
fi

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
WEEKS=$(.venv/bin/python -c "from coursekit.config import load_course; print(*load_course().weeks)")
JOBS=$(nproc 2>/dev/null || echo 2)
echo "== grading each week's reference solution with the hidden suite, $JOBS at a time"
status=0
printf '%s\n' $WEEKS | xargs -P "$JOBS" -I{} sh -c \
    '.venv/bin/course grade "$1" --submission "solutions/$1" --json "results-$1.json" > "results-$1.log" 2>&1' _ {} ||
    status=$?
for week in $WEEKS; do
    cat "results-$week.log"
done
if [ "$status" != 0 ]; then
    echo "setup: grading a reference solution failed (see above)" >&2
    exit 1
fi
echo "== done: results in results-WEEK.json; run 'source .venv/bin/activate' to use 'course'"
