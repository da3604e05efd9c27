#!/usr/bin/env bash
# Compatibility with the oldest supported set (docs/install.md): build a venv with an older
# OpenMMLab / timm environment, install the plugin's wheel into it as a user would, check that
# pip changed none of the user's packages, run the installed commands from outside the clone
# and the core / timm / mmpretrain / CLI / security tests. About 10 minutes on 2 CPU cores.
#
#   bash benchmarks/compat_oldest.sh [WORK_DIR]      (default: a new temporary folder)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${1:-$(mktemp -d)}"
OLDEST=("torch==2.1.2" "torchvision==0.16.2" "mmengine==0.10.5" "mmpretrain==1.2.0" "mmcv-lite==2.2.0"
        "timm==0.9.16" "numpy==1.26.4" "setuptools<81")
echo "== venv with the oldest set in $WORK/venv: ${OLDEST[*]}"
python3 -m venv "$WORK/venv"
. "$WORK/venv/bin/activate"
pip install -q --upgrade pip build
pip install -q "${OLDEST[@]}"
echo "== build the wheel and install it with [mmpretrain,timm,test]"
python -m build --wheel --outdir "$WORK/dist" "$ROOT" > "$WORK/build.log" 2>&1
pip freeze --all > "$WORK/before.txt"
pip install -q "$(ls "$WORK"/dist/*.whl)[mmpretrain,timm,test]"
pip freeze --all > "$WORK/after.txt"
changed=$(diff <(sort "$WORK/before.txt") <(sort "$WORK/after.txt") | grep '^<' || true)
if [ -n "$changed" ]; then echo "FAIL: installing the plugin changed: $changed"; exit 1; fi
echo "   none of the installed packages changed; added: $(diff <(sort "$WORK/before.txt") <(sort "$WORK/after.txt") | grep -c '^>')"
python -c "import torch, torchvision, mmengine, mmpretrain, timm, numpy; print('   versions:', torch.__version__, torchvision.__version__, mmengine.__version__, mmpretrain.__version__, timm.__version__, numpy.__version__)" 2>/dev/null
echo "== installed commands, outside the clone"
mkdir -p "$WORK/run" && cd "$WORK/run"
lwdna-shrink resnet18 --data digits --flops-target 0.9 --work-dir shrink --embedding-dim 2 2>/dev/null | tail -1
printf "_base_ = ['lwdna_plugin::lwdna/demo_digits.py']\ntrain_cfg = dict(max_epochs=2)\nwork_dir = './work_dirs/user_demo'\n" > user_demo.py
lwdna-train user_demo.py 2>/dev/null | grep 'LW-DNA top-1'
echo "== tests (core, timm, mmpretrain, CLI, security) against the oldest set"
cd "$ROOT"
python -m pytest -q -p no:cacheprovider tests/test_families.py tests/test_bad_input.py tests/test_hypernet.py \
    tests/test_flops_and_search.py tests/test_outputs.py tests/test_init_match.py tests/test_cli_and_report.py \
    tests/test_mmpretrain.py tests/test_configs.py tests/test_security.py -k "not basicsr" 2>&1 | tail -3
