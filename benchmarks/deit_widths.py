#!/usr/bin/env python
"""The widths LW-DNA picks for mmpretrain's DeiT-Tiny at 90 % FLOPs (configs/lwdna/deit-tiny_4xb256_in1k.py:
width ×2, two scoring batches), per block: heads and MLP width, and the embedding width; and
what the shrink costs against one training iteration of the baseline, measured side by side
in one run, each in its own process (wall time and peak resident memory).

No ImageNet here: the scoring batches are the embedded digits at 224² (labels 0–9 of the
1000-class head), so the widths show what the search does, not what ImageNet would pick.

    python benchmarks/deit_widths.py [--batch 32] [--write]      # --write: the table in docs/results.md
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, 'configs', 'lwdna', 'deit-tiny_4xb256_in1k.py')
DOC = os.path.join(ROOT, 'docs', 'results.md')
MARK = '<!-- deit_widths -->'


def build():
    """(model, lwdna options, loss) of the config's DeiT-Tiny, built through mmpretrain's registry."""
    import copy

    from mmengine.config import Config
    from mmpretrain.registry import MODELS
    from mmpretrain.utils import register_all_modules

    from lwdna_plugin.mmpretrain.model import _classifier_loss, _without_pretrained
    register_all_modules()
    cfg = Config.fromfile(CONFIG)
    arch = _without_pretrained(copy.deepcopy(cfg.model.architecture.to_dict()))
    arch.pop('train_cfg', None)   # mixup / cutmix need soft labels; the loss is the head's own
    model = MODELS.build(arch)
    model.init_weights()
    return model, dict(cfg.model.lwdna), _classifier_loss(model)


def batches(size: int, count: int):
    from mmpretrain.structures import DataSample

    from lwdna_plugin.data import digit_batches
    return [(x, [DataSample().set_gt_label(int(t)) for t in y]) for x, y in digit_batches(size=224, batch=size,
                                                                                           count=count)]


def child(mode: str, batch: int, fixed: bool) -> dict:
    import torch

    from lwdna_plugin import LWDNAConfig, shrink
    from lwdna_plugin.mmpretrain.model import tensor_forward
    torch.manual_seed(0)
    model, options, loss = build()
    data = batches(batch, 2)
    start = time.perf_counter()
    if mode == 'train':   # one iteration of the recipe: forward, the head's loss, backward, AdamW step
        optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.05)
        for x, y in data[:1]:
            value = loss(tensor_forward(model.train(), x), y)
            value.backward()
            optimizer.step()
        out = {}
    else:
        result = shrink(model, data, loss, LWDNAConfig(**options, keep_normalized_widths=fixed), forward_fn=tensor_forward)
        lw = result.model
        out = {'blocks': [(layer.attn.num_heads, layer.ffn.layers[0][0].out_features) for layer in lw.backbone.layers],
               'embedding': lw.backbone.patch_embed.projection.out_channels,
               'flops': result.channel_config['flops'], 'probe': result.channel_config['probe_relative_error'],
               'mixing': result.channel_config['probe_channel_mixing']}
    out.update(seconds=time.perf_counter() - start, peak_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


def run(mode: str, batch: int, fixed: bool = False) -> dict:
    proc = subprocess.run([sys.executable, __file__, '--child', mode, '--batch', str(batch)] + (['--fixed'] if fixed else []),
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, 'PYTHONPATH': ROOT})
    lines = [line for line in proc.stdout.splitlines() if line.startswith('RESULT ')]
    if not lines:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(lines[-1][len('RESULT '):])


def table(batch: int, train: dict, searched: dict, fixed: dict) -> str:
    lines = [f'DeiT-Tiny (mmpretrain, 12 blocks of 3 heads × 64, MLP 768, embedding 192), width ×2, 90 % FLOPs, '
             f'two scoring batches of {batch} embedded digits at 224² (`python benchmarks/deit_widths.py`):', '',
             '| block | heads (embedding searched) | MLP width | heads (embedding kept: exact) | MLP width |',
             '|---:|---:|---:|---:|---:|']
    for k, ((h1, m1), (h2, m2)) in enumerate(zip(searched['blocks'], fixed['blocks'])):
        lines.append(f'| {k} | {h1} | {m1} | {h2} | {m2} |')
    lines.append(f'| embedding | {searched["embedding"]} | | {fixed["embedding"]} | |')
    for name, r in (('embedding searched', searched), ('embedding kept', fixed)):
        f = r['flops']
        lines.append('')
        lines.append(f'- {name}: FLOPs {f["lwdna"] / 1e9:.3f} G of {f["baseline"] / 1e9:.3f} G '
                     f'({f["lwdna"] / f["baseline"]:.3f}), probe {r["probe"]:.1e}'
                     + (f' ({", ".join(r["mixing"])} over the kept channels)' if r['mixing'] else ' (exact)')
                     + f'; shrink {r["seconds"]:.1f} s, peak memory {r["peak_mib"]:.0f} MiB')
    lines.append(f'- one training iteration of the baseline at batch {batch} (forward, loss, backward, AdamW): '
                 f'{train["seconds"]:.1f} s, peak memory {train["peak_mib"]:.0f} MiB; the shrink costs '
                 f'{searched["seconds"] / train["seconds"]:.1f}× / {fixed["seconds"] / train["seconds"]:.1f}× its time and '
                 f'{searched["peak_mib"] / train["peak_mib"]:.1f}× / {fixed["peak_mib"] / train["peak_mib"]:.1f}× its memory '
                 '(2-core CPU, each in its own process)')
    return '\n'.join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--write', action='store_true')
    p.add_argument('--child', choices=('train', 'shrink'), help=argparse.SUPPRESS)
    p.add_argument('--fixed', action='store_true', help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print('RESULT ' + json.dumps(child(args.child, args.batch, args.fixed)))
        return
    text = table(args.batch, run('train', args.batch), run('shrink', args.batch), run('shrink', args.batch, fixed=True))
    print(text)
    if args.write:
        with open(DOC) as f:
            doc = f.read()
        block = f'{MARK}\n{text}\n{MARK}'
        if MARK in doc:
            head, _, rest = doc.partition(MARK)
            doc = head + block + rest.partition(MARK)[2]
        else:
            doc = doc.rstrip('\n') + '\n\n## LW-DNA widths of DeiT-Tiny\n\n' + block + '\n'
        with open(DOC, 'w') as f:
            f.write(doc)


if __name__ == '__main__':
    main()
