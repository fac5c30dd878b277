#!/usr/bin/env bash
# One command: set up a local virtualenv (first time), build the built-in demo, start the dashboard.
#   ./run.sh          -> dashboard on http://localhost:8501
#   ./run.sh test     -> the whole test suite
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required" >&2; exit 1; }
  "$PY" -m venv .venv
fi
# The tests also install the optional Ray extra (requirements-ray.txt); the app does not.
REQS="requirements-dev.txt"
[ "${1:-app}" = test ] && REQS="$REQS requirements-ray.txt"
STAMP=.venv/.requirements-${1:-app}.sha256
WANT=$(cat requirements.txt $REQS | sha256sum | cut -d' ' -f1)
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet $(printf -- '-r %s ' $REQS)
  echo "$WANT" > "$STAMP"
fi
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
case "${1:-app}" in
  test)
    shift || true
    exec .venv/bin/python -m pytest "$@"
    ;;
  app)
    .venv/bin/python -m models.build
    exec .venv/bin/python -m streamlit run app.py "${@:2}"
    ;;
  *)
    echo "usage: ./run.sh [app|test [pytest args]]" >&2
    exit 2
    ;;
esac
