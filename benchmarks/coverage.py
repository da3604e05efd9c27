#!/usr/bin/env python
"""Which CNNs of timm, torchvision and basicsr the engine shrinks, refuses, crashes or hangs on.

Each model is built with random weights and shrunk in a fresh process (width ×1.5, FLOPs target
0.8, embedding_dim 2, two batches of 4 embedded-digit images at the model's input size, or two
×4 super-resolution batches and Adam at 1e-4, as basicsr option files train, for basicsr) under
a time limit. Every accepted model is exact by
construction: ``shrink`` refuses a prune whose float64 probe differs from the widened model with
the removed channels zeroed, and the probe's error is printed. Outcomes:

- ``exact``: shrunk; the probe's relative error is shown;
- ``structurally valid``: shrunk; the model has layers whose output depends on the channel
  count by design (LayerNorm / GroupNorm statistics over the channels, ECA's conv over the
  channel axis): the probe compared everything else exactly with those layers affine-only /
  left out, and the real pruned network ran with finite outputs (the layer types are shown);
- ``refused``: one ``LWDNAError`` (its message, which names the op and module);
- ``crash``: any other exception (a bug: there should be none);
- ``hang``: no answer within the time limit.

    python benchmarks/coverage.py [--timeout 180] [--write]      # --write: docs/coverage.md
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Dict, List, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, 'docs', 'coverage.md')

# (zoo, name, input size); transformers are listed to check that they are refused cleanly
MODELS: List[Tuple[str, str, int]] = [
    ('timm', name, 64) for name in (
        'resnet18', 'resnet50', 'resnext50_32x4d', 'seresnet50', 'regnetx_004', 'regnety_004', 'mobilenetv2_100',
        'mobilenetv3_large_100', 'efficientnet_b0', 'mnasnet_100', 'densenet121', 'repvgg_a2', 'dpn68',
        'ecaresnet26t', 'skresnet18', 'cspresnet50', 'cspdarknet53', 'res2net50_14w_8s', 'ghostnet_100',
        'rexnet_100', 'dla34', 'mixnet_s', 'convnext_atto', 'convnextv2_atto', 'edgenext_xx_small',
        'poolformer_s12', 'resnetv2_50', 'resnetv2_50x1_bit',
        'vgg11_bn', 'hrnet_w18_small', 'xception41')
] + [('timm', 'inception_v3', 128)] + [('timm', name, 224) for name in ('vit_tiny_patch16_224', 'swin_tiny_patch4_window7_224', 'levit_128s',
                                        'mobilevit_xxs')] + [
    ('torchvision', name, 64) for name in (
        'resnet18', 'wide_resnet50_2', 'vgg11_bn', 'alexnet', 'mobilenet_v2', 'mobilenet_v3_small',
        'shufflenet_v2_x0_5', 'squeezenet1_0', 'googlenet', 'mnasnet0_5', 'efficientnet_b0', 'regnet_x_400mf',
        'densenet121', 'convnext_tiny')
] + [('basicsr', name, 16) for name in ('EDSR', 'MSRResNet', 'RRDBNet', 'SRVGGNetCompact')]

CHILD = r'''
import json, sys, warnings
warnings.filterwarnings('ignore')
import torch, torch.nn.functional as F
zoo, name, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.manual_seed(0)
torch.set_num_threads(2)
from lwdna_plugin import LWDNAConfig, LWDNAError, shrink
if zoo == 'basicsr':
    from lwdna_plugin.compat import patch_basicsr_import
    patch_basicsr_import()
    from basicsr.utils.registry import ARCH_REGISTRY
    import basicsr.archs  # noqa: F401
    kwargs = {'EDSR': dict(num_in_ch=3, num_out_ch=3, num_feat=32, num_block=4, upscale=4),
              'MSRResNet': dict(num_in_ch=3, num_out_ch=3, num_feat=32, num_block=4, upscale=4),
              'RRDBNet': dict(num_in_ch=3, num_out_ch=3, num_feat=16, num_block=2, num_grow_ch=8, scale=4),
              'SRVGGNetCompact': dict(num_in_ch=3, num_out_ch=3, num_feat=16, num_conv=4, upscale=4)}[name]
    model = ARCH_REGISTRY.get(name)(**kwargs)
    from lwdna_plugin.data import photo_sr_batches
    batches, loss = photo_sr_batches(lr_size=size, scale=4, batch=4, count=2), F.l1_loss
    search = dict(search_optimizer='adam', search_lr=1e-4)   # what basicsr option files train with
else:
    search = {}
    if zoo == 'timm':
        import timm
        import lwdna_plugin.timm  # noqa: F401  (registers timm's channel gates, as a timm user imports it)
        extra = {'img_size': size} if name.startswith(('vit', 'swin')) else {}
        model = timm.create_model(name, num_classes=10, **extra)
    else:
        import torchvision
        extra = {'aux_logits': False, 'init_weights': True} if name in ('googlenet',) else {}
        model = getattr(torchvision.models, name)(num_classes=10, **extra)
    from lwdna_plugin.data import digit_batches
    batches, loss = digit_batches(size=size, batch=4, count=2), F.cross_entropy
try:
    result = shrink(model, batches, loss, LWDNAConfig(width_mult=1.5, flops_target=0.8, embedding_dim=2, **search))
    c = result.channel_config
    mixing = c['probe_without_channel_mixing']
    out = {'outcome': 'structurally valid' if mixing else 'exact', 'probe': c['probe_relative_error'],
           'why': ('probe without ' + ', '.join(mixing)) if mixing else '',
           'flops': c['flops']['lwdna'] / c['flops']['baseline'], 'params': c['params']['lwdna'] / c['params']['baseline']}
except LWDNAError as e:
    out = {'outcome': 'refused', 'why': f'{type(e).__name__}: {e}'}
except Exception as e:
    out = {'outcome': 'crash', 'why': f'{type(e).__name__}: {e}'}
print('RESULT ' + json.dumps(out))
'''


def run_one(zoo: str, name: str, size: int, timeout: float) -> Dict:
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, '-c', CHILD, zoo, name, str(size)], cwd=ROOT, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {'outcome': 'hang', 'why': f'no answer within {timeout:.0f} s', 'seconds': timeout}
    lines = [line for line in proc.stdout.splitlines() if line.startswith('RESULT ')]
    if lines:
        result = json.loads(lines[-1][len('RESULT '):])
    else:
        tail = (proc.stderr.strip().splitlines() or ['no output'])[-1]
        result = {'outcome': 'crash', 'why': f'exit {proc.returncode}: {tail}'}
    result['seconds'] = time.perf_counter() - start
    return result


def table(rows: List[Tuple[str, str, int, Dict]]) -> str:
    lines = ['| zoo | model | input | outcome | FLOPs / params ratio | probe error | reason | time (s) |',
             '|---|---|---:|---|---:|---:|---|---:|']
    for zoo, name, size, r in rows:
        shrunk = r['outcome'] in ('exact', 'structurally valid')
        ratios = f'{r["flops"]:.3f} / {r["params"]:.3f}' if shrunk else ''
        probe = f'{r["probe"]:.1e}' if shrunk else ''
        why = r.get('why', '').replace('|', '\\|').replace('\n', ' ')
        why = why if len(why) <= 220 else why[:217] + '...'
        lines.append(f'| {zoo} | {name} | {size}² | {r["outcome"]} | {ratios} | {probe} | {why} | {r["seconds"]:.0f} |')
    return '\n'.join(lines)


TRANSFORMERS = ('vit_tiny_patch16_224', 'swin_tiny_patch4_window7_224', 'levit_128s', 'mobilevit_xxs')


def summary(rows: List[Tuple[str, str, int, Dict]]) -> str:
    counts: Dict[str, int] = {}
    for *_, r in rows:
        counts[r['outcome']] = counts.get(r['outcome'], 0) + 1
    cnns = [r for _, name, _, r in rows if name not in TRANSFORMERS]
    accepted = sum(r['outcome'] in ('exact', 'structurally valid') for r in cnns)
    return (', '.join(f'{k}: {v}' for k, v in sorted(counts.items())) + f' (of {len(rows)}); CNNs accepted: '
            f'{accepted} of {len(cnns)} ({100 * accepted / max(len(cnns), 1):.0f} %)')


def grouping_times() -> str:
    """Seconds to build the channel graph (trace + groups) of ResNet50, its ×2-wide variant and
    ResNet152 at 64²: grouping should grow about linearly with the number of layers."""
    import torch
    import torchvision

    from lwdna_plugin.core import build_channel_graph
    lines = ['| torchvision model | convs | grouping (s) |', '|---|---:|---:|']
    for name in ('resnet50', 'wide_resnet50_2', 'resnet152'):
        model = getattr(torchvision.models, name)(num_classes=10)
        start = time.perf_counter()
        build_channel_graph(model, torch.zeros(1, 3, 64, 64))
        convs = sum(isinstance(m, torch.nn.Conv2d) for m in model.modules())
        lines.append(f'| {name} | {convs} | {time.perf_counter() - start:.2f} |')
    return '\n'.join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--timeout', type=float, default=180.0, help='seconds per model')
    p.add_argument('--only', nargs='+', help='model names to run (default: all)')
    p.add_argument('--write', action='store_true', help='write docs/coverage.md')
    args = p.parse_args(argv)
    rows = []
    for zoo, name, size in MODELS:
        if args.only and name not in args.only:
            continue
        result = run_one(zoo, name, size, args.timeout)
        rows.append((zoo, name, size, result))
        print(f'{zoo:12s} {name:30s} {result["outcome"]:8s} {result.get("why", "")[:120]}', flush=True)
    text = table(rows)
    print(text)
    print(summary(rows))
    times = grouping_times()
    print(times)
    if args.write:
        with open(DOC, 'w') as f:
            f.write('# Coverage (`python benchmarks/coverage.py --write`)\n\n'
                    + __doc__.split('\n\n', 1)[1].rsplit('\n\n', 1)[0] + '\n\n'
                    + f'Measured {time.strftime("%Y-%m-%d")} on the 2-core CPU machine: {summary(rows)}.\n\n'
                    + text + '\n\nGrouping time (one process, after the runs above):\n\n' + times + '\n')


if __name__ == '__main__':
    main()
