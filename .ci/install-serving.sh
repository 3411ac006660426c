#!/usr/bin/env bash
# Install what tests/integration/test_transformers_serve.py needs: a CPU-only
# PyTorch and `transformers serve` (transformers[serving]) at pinned versions.
#
# Why the pins: a bare `torch` requirement (or any range that resolves to a
# newer torch) pulls the CUDA build and gigabytes of nvidia-* wheels. We ask
# for the local-version wheel `torch==2.13.0+cpu` (shipped on this kind of
# machine through pip's find-links), in the SAME pip command as transformers,
# so the resolver can never swap in another torch: if the CPU wheel is not
# there, the install fails instead of downloading CUDA.
#
# Idempotent: when every pin is already installed it only reads package
# metadata (well under a second) and exits 0.
#
# Environment:
#   PYTHON            interpreter to install into (default: python3)
#   SERVING_OPTIONAL  1 = on failure print a warning and exit 0 (the test
#                     then skips because the packages cannot be imported)
set -euo pipefail

PYTHON="${PYTHON:-python3}"

PINS=(
    "torch==2.13.0+cpu"
    "transformers[serving]==5.23.0"
    "tokenizers==0.23.3"
    "huggingface-hub==2.4.0"
    "safetensors==0.8.0"
    "accelerate==1.15.0"
    "fastapi==0.165.0"
    "starlette==1.10.0"
    "uvicorn==0.54.0"
    "openai==3.54.0"
)

# Prints the pins that are missing or at another version; silent when all match.
missing_pins() {
    "$PYTHON" - "${PINS[@]}" <<'EOF'
import re
import sys
from importlib.metadata import PackageNotFoundError, version

for pin in sys.argv[1:]:
    name, wanted = pin.split("==")
    name = re.sub(r"\[.*\]", "", name)
    try:
        have = version(name)
    except PackageNotFoundError:
        have = None
    if have != wanted:
        print(f"{name}: want {wanted}, have {have}")
EOF
}

fail() {
    echo "install-serving: $*" >&2
    if [[ "${SERVING_OPTIONAL:-0}" == "1" ]]; then
        echo "install-serving: SERVING_OPTIONAL=1, continuing; the transformers-serve test will skip" >&2
        exit 0
    fi
    exit 1
}

todo="$(missing_pins)"
if [[ -z "$todo" ]]; then
    echo "install-serving: all pins present, nothing to do"
    exit 0
fi
echo "install-serving: installing because:"
echo "$todo" | sed 's/^/  /'

start=$(date +%s)
log="$(mktemp)"
if "$PYTHON" -m pip install --quiet --disable-pip-version-check "${PINS[@]}" >"$log" 2>&1; then
    status=0
else
    status=$?
fi
# pip warns once per package about an absent local index folder; drop that noise.
grep -v "^WARNING: Location '.*' is ignored" "$log" || true
rm -f "$log"
[[ "$status" == "0" ]] || fail "pip install failed with status $status"

left="$(missing_pins)"
[[ -z "$left" ]] || fail "still missing after install: $left"

# Belt and braces: no CUDA runtime may have come along.
cuda="$("$PYTHON" -m pip list --format=freeze 2>/dev/null | grep -iE '^(nvidia-|cuda-|triton==)' || true)"
[[ -z "$cuda" ]] || fail "CUDA packages were installed: $cuda"

echo "install-serving: done in $(( $(date +%s) - start )) s"
