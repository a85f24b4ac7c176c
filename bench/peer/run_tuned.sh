#!/usr/bin/env bash
# Run a peer benchmark script with the "tuned" allocator setup:
#   bench/peer/run_tuned.sh SCRIPT [ARGS...]
# SCRIPT is a file name in bench/peer/ (e.g. torch_extract.py). Runs it with Debian's
# /usr/bin/python3, jemalloc preloaded and configured (see DESIGN.md §2), and with
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset for this command only (they slow current numpy).
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: $0 SCRIPT [ARGS...]" >&2
  exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
script=$1; shift
[[ -f "$here/$script" ]] || { [[ -f "$here/$script.py" ]] && script=$script.py; }
if [[ ! -f "$here/$script" ]]; then
  echo "run_tuned: no such peer script: $here/$script" >&2
  exit 2
fi

je=$(ldconfig -p 2>/dev/null | awk '/libjemalloc\.so\.2 / && !p {p = $NF} END {print p}' || true)
if [[ -z "$je" ]]; then
  for c in /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /lib/x86_64-linux-gnu/libjemalloc.so.2; do
    [[ -e "$c" ]] && { je=$c; break; }
  done
fi
if [[ -z "$je" ]]; then
  echo "run_tuned: libjemalloc.so.2 not found (run bench/setup-peers.sh)" >&2
  exit 1
fi

exec env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
  LD_PRELOAD="$je${LD_PRELOAD:+:$LD_PRELOAD}" \
  MALLOC_CONF=oversize_threshold:0,background_thread:true,metadata_thp:auto,dirty_decay_ms:-1,muzzy_decay_ms:-1 \
  /usr/bin/python3 "$here/$script" "$@"
