#!/usr/bin/env bash
# Wheels for benchmarks/gpu_check.sh on the device machine (Python 3.12, no network; it already
# has torch, torchvision, timm, numpy, scipy, matplotlib, safetensors, scikit-learn, opencv,
# pyyaml, rich, tqdm, requests, scikit-image; setuptools < 81 is carried for pkg_resources). Run here; the wheels go to .whl/ (git-ignored
# via .git/info/exclude), which the device run carries.
set -eu
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
mkdir -p .whl
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
fetch() {   # pure-Python wheels first, else a manylinux one
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        "${PLATFORMS[@]}" -d .whl "$@"
}
for req in torch-pruning==1.6.1 mmengine==0.10.7 mmpretrain==1.2.0 mmcv-lite==2.2.0 addict==2.4.0 yapf==0.43.0 \
           termcolor==2.5.0 modelindex==0.0.2 mat4py==0.6.0 ordered-set==4.1.0 lmdb==1.5.1 future==1.0.0 \
           platformdirs==4.3.6 tomli==2.2.1 setuptools==80.9.0; do
    fetch "$req" || { echo "error: no wheel for $req"; exit 1; }
done
# basicsr 1.4.2 is published as a source archive only: build its (pure-Python) wheel here
BASICSR_EXT=False python3 -m pip wheel -q --no-deps --no-build-isolation -w .whl basicsr==1.4.2
du -sh .whl
