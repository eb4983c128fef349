#!/usr/bin/env bash
# The Python environment of the Bayesian reference tools (tools/bayes/*.py; issue 19 item 6):
# a virtualenv at tools/bayes/.venv (gitignored) with NumPy, JAX on the CPU and NumPyro, pinned
# to versions that install on Python 3.11. Idempotent: a second run finds the pins installed and
# does nothing. Not needed by the project's tests; split.py needs no environment at all.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=.venv
PINS=(numpy==2.4.6 scipy==1.17.1 jax==0.10.2 jaxlib==0.10.2 numpyro==0.22.0)
STAMP="$VENV/.pins"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "${PINS[*]}" ]; then
    echo "tools/bayes/.venv is ready; use it as tools/bayes/.venv/bin/python tools/bayes/svgd_numpy.py --help"
    exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}"
echo "${PINS[*]}" > "$STAMP"
echo "tools/bayes/.venv is ready; use it as tools/bayes/.venv/bin/python tools/bayes/svgd_numpy.py --help"
