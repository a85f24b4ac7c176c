#!/usr/bin/env bash
# Install the Python peer used by graft's benchmarks: Debian's PyTorch 1.13 CPU build,
# torchvision, scikit-learn, numpy, and jemalloc (preloaded by bench/peer/run_tuned.sh).
# Idempotent: skips apt when the imports already work and jemalloc is present.
set -euo pipefail

PY=/usr/bin/python3
PKGS=(python3-torch python3-torchvision python3-sklearn python3-numpy libjemalloc2)

find_jemalloc() {
  local p
  p=$(ldconfig -p 2>/dev/null | awk '/libjemalloc\.so\.2 / && !p {p = $NF} END {print p}' || true)
  if [[ -z "$p" ]]; then
    for c in /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /usr/lib/aarch64-linux-gnu/libjemalloc.so.2 /usr/lib/libjemalloc.so.2; do
      [[ -e "$c" ]] && { p=$c; break; }
    done
  fi
  printf '%s' "$p"
}

have_python=0
if [[ -x "$PY" ]] && "$PY" -c 'import torch, torchvision, sklearn' >/dev/null 2>&1; then
  have_python=1
fi

if [[ $have_python == 1 && -n "$(find_jemalloc)" ]]; then
  echo "setup-peers: peer already installed, nothing to do"
else
  if [[ $(id -u) != 0 ]]; then
    echo "setup-peers: need root for apt-get" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Refresh package lists once if they look missing (no cached candidate for torch).
  if ! apt-cache policy python3-torch 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    echo "setup-peers: apt-get update"
    apt-get update -qq
  fi
  echo "setup-peers: apt-get install ${PKGS[*]}"
  apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null
fi

"$PY" -c 'import torch, torchvision, sklearn, numpy; print("setup-peers: torch", torch.__version__, "torchvision", torchvision.__version__, "sklearn", sklearn.__version__, "numpy", numpy.__version__)'

JE=$(find_jemalloc)
if [[ -z "$JE" ]]; then
  echo "setup-peers: libjemalloc.so.2 not found" >&2
  exit 1
fi
echo "setup-peers: libjemalloc.so.2 at $JE"
