#!/usr/bin/env python
"""Which models of mmpretrain, timm, torchvision and basicsr the engine shrinks, refuses, crashes or hangs on.

Each model is built with random weights and shrunk in a fresh process (width ×1.5, FLOPs target
0.8, embedding_dim 2, two batches of 4 embedded-digit images at the model's input size, or two
×4 super-resolution batches and Adam at 1e-4, as basicsr option files train, for basicsr) under
a time limit. The mmpretrain section builds one config of every CNN / hybrid classification
family in the installed mmpretrain's ``configs/`` (its ``model`` dict with a 10-class head, no
pretrained weights) through mmpretrain's registry and ``init_weights``, and shrinks it with the
head's own loss, as ``LWDNAClassifier`` does; the families it skips are listed with the reason.
The transformer section does the same for timm's vision transformers and one config of every
transformer family of mmpretrain's; a model shrunk *structurally valid* (LayerNorm over the
embedding width) is shrunk a second time with ``keep_normalized_widths=True``, and the reason
column says whether heads and MLP widths are then pruned exactly. Where the reason column says
``kept whole: <class>``, modules of that class were kept at their width with the channels they
read and write (an attention sizing its heads by its input width, or the block around an op the
grouping cannot follow: ``keep_unmodelled_blocks``, on by default; each module apart, so other
modules of the class may have been searched) and the rest was searched.
Every accepted model is exact by
construction: ``shrink`` refuses a prune whose float64 probe differs from the widened model with
the removed channels zeroed, and the probe's error is printed. Outcomes:

- ``exact``: shrunk; the probe's relative error is shown;
- ``structurally valid``: shrunk; the model has layers whose output depends on the channel
  count by design (LayerNorm / GroupNorm statistics over the channels, ECA's conv over the
  channel axis, a conv standardising its weight over its inputs): the probe compared the whole pruned network exactly with a reference whose
  such layers run on the kept channels only (the layer types are shown);
- ``refused``: one ``LWDNAError`` (its message, which names the op and module);
- ``crash``: any other exception (a bug: there should be none), or an accepted model whose
  ``result.model`` (or the same weights saved as safetensors and loaded into the architecture
  rebuilt from the channel config) gives a non-finite eval output in float32;
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

# (zoo, name, input size): the CNNs
MODELS: List[Tuple[str, str, int]] = [
    ('timm', name, 64) for name in (
        'resnet18', 'resnet50', 'resnext50_32x4d', 'seresnet50', 'regnetx_004', 'regnety_004', 'mobilenetv2_100',
        'mobilenetv3_large_100', 'efficientnet_b0', 'mnasnet_100', 'densenet121', 'repvgg_a2', 'dpn68',
        'ecaresnet26t', 'skresnet18', 'cspresnet50', 'cspdarknet53', 'res2net50_14w_8s', 'ghostnet_100',
        'rexnet_100', 'dla34', 'mixnet_s', 'convnext_atto', 'convnextv2_atto', 'edgenext_xx_small',
        'poolformer_s12', 'resnetv2_50', 'resnetv2_50x1_bit',
        'vgg11_bn', 'hrnet_w18_small', 'xception41')
] + [('timm', 'inception_v3', 128)] + [
    ('torchvision', name, 64) for name in (
        'resnet18', 'wide_resnet50_2', 'vgg11_bn', 'alexnet', 'mobilenet_v2', 'mobilenet_v3_small',
        'shufflenet_v2_x0_5', 'squeezenet1_0', 'googlenet', 'mnasnet0_5', 'efficientnet_b0', 'regnet_x_400mf',
        'densenet121', 'convnext_tiny')
] + [('basicsr', name, 16) for name in ('EDSR', 'MSRResNet', 'RRDBNet', 'SRVGGNetCompact')]

# mmpretrain: (family folder, config, input size); the smallest config of each family that
# builds at a small input (some families fix their resolution: attention biases, global filters);
# RepLKNet's own configs do not load in mmpretrain 1.2.0 (their model file imports a module, which
# mmengine refuses in a non-lazy inheritance chain): its model file is read directly
MMPRETRAIN: List[Tuple[str, str, int]] = [
    ('convmixer', 'convmixer-768-32_10xb64_in1k.py', 64),
    ('convnext', 'convnext-tiny_32xb128_in1k.py', 64), ('convnext_v2', 'convnext-v2-atto_32xb32_in1k.py', 64),
    ('csra', 'resnet101-csra_1xb16_voc07-448px.py', 64), ('cspnet', 'cspdarknet50_8xb32_in1k.py', 64),
    ('cspnet', 'cspresnet50_8xb32_in1k.py', 64), ('cspnet', 'cspresnext50_8xb32_in1k.py', 64),
    ('densenet', 'densenet121_4xb256_in1k.py', 64), ('efficientformer', 'efficientformer-l1_8xb128_in1k.py', 224),
    ('efficientnet', 'efficientnet-b0_8xb32_in1k.py', 64), ('efficientnet_v2', 'efficientnetv2-b0_8xb32_in1k.py', 64),
    ('hornet', 'hornet-tiny_8xb128_in1k.py', 64), ('hrnet', 'hrnet-w18_4xb32_in1k.py', 64),
    ('inception_v3', 'inception-v3_8xb32_in1k.py', 128), ('lenet', 'lenet5_mnist.py', 32),
    ('mobilenet_v2', 'mobilenet-v2_8xb32_in1k.py', 64), ('mobilenet_v3', 'mobilenet-v3-small_8xb128_in1k.py', 64),
    ('mobileone', 'mobileone-s0_8xb32_in1k.py', 64), ('poolformer', 'poolformer-s12_32xb128_in1k.py', 64),
    ('regnet', 'regnetx-400mf_8xb128_in1k.py', 64), ('replknet', '../_base_/models/replknet-31B_in1k.py', 64),
    ('repmlp', 'repmlp-base_8xb64_in1k.py', 224), ('repvgg', 'repvgg-A0_8xb32_in1k.py', 64),
    ('res2net', 'res2net50-w14-s8_8xb32_in1k.py', 64), ('resnest', 'resnest50_32xb64_in1k.py', 64),
    ('resnet', 'resnet18_8xb32_in1k.py', 64), ('resnext', 'resnext50-32x4d_8xb32_in1k.py', 64),
    ('riformer', 'riformer-s12_8xb128_in1k.py', 64), ('seresnet', 'seresnext50-32x4d_8xb32_in1k.py', 64),
    ('shufflenet_v1', 'shufflenet-v1-1x_16xb64_in1k.py', 64), ('shufflenet_v2', 'shufflenet-v2-1x_16xb64_in1k.py', 64),
    ('van', 'van-tiny_8xb128_in1k.py', 64), ('vgg', 'vgg11bn_8xb32_in1k.py', 224),
    ('wrn', 'wide-resnet50_8xb32_in1k.py', 64),
]
# vision transformers and MLP token mixers: timm's (input size) and one config of every such family
# of mmpretrain's configs (family folder, config, input size); ViT-style backbones that take any
# input size run at 64² (their position embedding is built for it), the rest at their own size
TRANSFORMERS: List[Tuple[str, str, int]] = [('timm', name, size) for name, size in (
    ('vit_tiny_patch16_224', 64), ('deit_tiny_patch16_224', 64), ('swin_tiny_patch4_window7_224', 224),
    ('levit_128s', 224), ('mobilevit_xxs', 64), ('tiny_vit_5m_224', 224), ('xcit_nano_12_p16_224', 64),
    ('mixer_s16_224', 64), ('pit_ti_224', 224), ('twins_pcpvt_small', 224), ('edgenext_xx_small', 64),
    ('efficientformer_l1', 224))] + [('mmpretrain', f'{family}/{config}', size) for family, config, size in (
        ('vision_transformer', 'vit-base-p16_64xb64_in1k.py', 64), ('deit', 'deit-tiny-distilled_4xb256_in1k.py', 64),
        ('deit3', 'deit3-small-p16_64xb64_in1k.py', 64), ('beit', 'benchmarks/beit-base-p16_8xb64_in1k.py', 224),
        ('eva02', 'eva02-tiny-p14_in1k.py', 224), ('hivit', 'hivit-tiny-p16_16xb64_in1k.py', 224),
        ('swin_transformer', 'swin-tiny_16xb64_in1k.py', 224),
        ('swin_transformer_v2', 'swinv2-tiny-w8_16xb64_in1k-256px.py', 256), ('t2t_vit', 't2t-vit-t-14_8xb64_in1k.py', 224),
        ('tnt', 'tnt-s-p16_16xb64_in1k.py', 224), ('twins', 'twins-pcpvt-small_8xb128_in1k.py', 224),
        ('xcit', 'xcit-nano-12-p16_8xb128_in1k.py', 224), ('davit', 'davit-tiny_4xb256_in1k.py', 224),
        ('mvit', 'mvitv2-tiny_8xb256_in1k.py', 224), ('levit', 'levit-128s_8xb256_in1k.py', 224),
        ('mobilevit', 'mobilevit-xxsmall_8xb128_in1k.py', 64), ('tinyvit', 'tinyvit-5m_8xb256_in1k.py', 224),
        ('edgenext', 'edgenext-xxsmall_8xb256_in1k.py', 64), ('conformer', 'conformer-tiny-p16_8xb128_in1k.py', 224),
        ('mlp_mixer', 'mlp-mixer-base-p16_64xb64_in1k.py', 64), ('revvit', 'revvit-small_8xb256_in1k.py', 224),
        ('vig', 'pvig-tiny_8xb128_in1k.py', 224))]
# ViT-style mmpretrain backbones whose position embedding follows ``img_size``
IMG_SIZE_BACKBONES = ('VisionTransformer', 'DistilledVisionTransformer', 'DeiT3', 'MlpMixer', 'ViTEVA02')

# mmpretrain config folders that are not classification families, and why
MMPRETRAIN_SKIPPED: Dict[str, str] = {
    'dinov2': 'headless pre-trained ViT (no classifier of its own; its ViT is the vision_transformer row)',
    'eva': 'EVA-g configs only (a ~1 B-parameter ViT, headless or at 336² and more; its ViT is the vision_transformer row)',
    **{f: 'self-supervised pre-training algorithm (no classifier of its own)' for f in (
        'barlowtwins', 'beitv2', 'byol', 'cae', 'densecl', 'itpn', 'mae', 'maskfeat', 'mff', 'milan', 'mixmim',
        'mocov2', 'mocov3', 'simclr', 'simmim', 'simsiam', 'spark', 'swav')},
    'arcface': 'image retrieval (ImageToImageRetriever around a ResNet-50 + ArcFace head), not a classifier',
    **{f: 'multimodal / segmentation model (not an image classifier)' for f in (
        'blip', 'blip2', 'chinese_clip', 'clip', 'flamingo', 'glip', 'llava', 'minigpt4', 'ofa', 'otter', 'sam')},
}


def mmpretrain_families() -> Tuple[List[str], List[str]]:
    """(folders of the installed mmpretrain's configs that neither list names, listed folders
    that it lacks): both should be empty; a new mmpretrain release shows up here."""
    import mmpretrain
    root = os.path.join(os.path.dirname(mmpretrain.__file__), '.mim', 'configs')
    folders = {f for f in os.listdir(root) if not f.startswith('_') and os.path.isdir(os.path.join(root, f))}
    listed = {f for f, _, _ in MMPRETRAIN} | set(MMPRETRAIN_SKIPPED) | \
        {name.split('/')[0] for zoo, name, _ in TRANSFORMERS if zoo == 'mmpretrain'}
    return sorted(folders - listed), sorted(listed - folders)


CHILD = r'''
import collections, copy, json, sys, warnings
IMG_SIZE_BACKBONES = {IMG_SIZE_BACKBONES}
warnings.filterwarnings('ignore')
forward_fn = None
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
elif zoo == 'mmpretrain':
    import copy, os
    import mmpretrain
    from mmengine.config import Config
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample
    from mmpretrain.utils import register_all_modules
    import lwdna_plugin.mmpretrain  # noqa: F401
    from lwdna_plugin.mmpretrain.model import _classifier_loss, _without_pretrained, tensor_forward
    register_all_modules()
    family, config = name.split('/', 1)
    path = os.path.join(os.path.dirname(mmpretrain.__file__), '.mim', 'configs', family, config)
    arch = Config.fromfile(os.path.normpath(path)).model
    arch = _without_pretrained(copy.deepcopy(arch.to_dict()))
    owner = arch['backbone'] if 'num_classes' in arch.get('backbone', {}) else arch.get('head', {})
    owner['num_classes'] = 10   # VGG, Inception-V3, LeNet-5 classify in the backbone
    if 'num_classes' in owner.get('loss', {}):
        owner['loss']['num_classes'] = 10   # ResNeSt's label-smoothing loss checks it
    arch.pop('train_cfg', None)   # batch augments (mixup / cutmix) need soft labels
    if arch['backbone'].get('type') in IMG_SIZE_BACKBONES:
        arch['backbone']['img_size'] = size
    if arch.get('head', {}).get('distillation'):
        arch['head']['distillation'] = False   # LeViT's head refuses to train with it (an inference config)
    def build():
        m = MODELS.build(arch)
        m.init_weights()
        return m
    model = build()
    from lwdna_plugin.data import digit_batches
    channels = 1 if family == 'lenet' else 3
    batches = [(x[:, :channels], [DataSample().set_gt_label(int(t)) for t in y])
               for x, y in digit_batches(size=size, batch=4, count=2)]
    loss, forward_fn, search = _classifier_loss(model), tensor_forward, {}
else:
    search = {}
    if zoo == 'timm':
        import timm
        import lwdna_plugin.timm  # noqa: F401  (registers timm's channel gates, as a timm user imports it)
        extra = {'img_size': size} if name.startswith(('vit', 'deit', 'xcit', 'mixer')) else {}
        model = timm.create_model(name, num_classes=10, **extra)
    else:
        import torchvision
        extra = {'aux_logits': False, 'init_weights': True} if name in ('googlenet',) else {}
        model = getattr(torchvision.models, name)(num_classes=10, **extra)
    from lwdna_plugin.data import digit_batches
    batches, loss = digit_batches(size=size, batch=4, count=2), F.cross_entropy
def finite(net):
    with torch.no_grad():
        out = net.eval()(batches[0][0]) if forward_fn is None else forward_fn(net.eval(), batches[0][0])
    from torch.utils._pytree import tree_flatten
    return all(bool(torch.isfinite(t).all()) for t in tree_flatten(out)[0] if torch.is_tensor(t))   # Conformer: 2 heads
try:
    result = shrink(model, batches, loss, LWDNAConfig(width_mult=1.5, flops_target=0.8, embedding_dim=2, **search),
                    forward_fn=forward_fn)
    c = result.channel_config
    mixing = c['probe_channel_mixing']
    kept = sorted({type(m).__name__ for n, m in result.model.named_modules() if n in result.widened_graph.kept_whole})
    out = {'outcome': 'structurally valid' if mixing else 'exact', 'probe': c['probe_relative_error'],
           'why': '; '.join(([f'kept whole: {", ".join(kept)}'] if kept else []) +
                            ([', '.join(mixing) + ' over the kept channels'] if mixing else [])),
           'flops': c['flops']['lwdna'] / c['flops']['baseline'], 'params': c['params']['lwdna'] / c['params']['baseline']}
    # the result is usable: finite in eval, and so are its weights saved and loaded into the
    # architecture rebuilt from the channel config
    import tempfile
    from safetensors.torch import load_file
    from lwdna_plugin import apply_channel_config
    from lwdna_plugin.cli.shrink import save_weights   # what lwdna-shrink writes
    with tempfile.TemporaryDirectory() as tmp:
        save_weights(result.model, tmp + '/w.safetensors')
        fresh = build() if zoo == 'mmpretrain' else copy.deepcopy(model)
        rebuilt = apply_channel_config(fresh, c, forward_fn=forward_fn)
        state = collections.OrderedDict(load_file(tmp + '/w.safetensors'))
        state._metadata = rebuilt.state_dict()._metadata   # module versions (torchvision MNASNet reads them)
        missing, unexpected = rebuilt.load_state_dict(state, strict=False)
        buffers = dict(rebuilt.named_buffers())   # mmpretrain's Swin-V2 drops its coordinate tables on load
        if unexpected or any(k not in buffers for k in missing):
            raise RuntimeError(f'the saved weights do not load: missing {missing}, unexpected {unexpected}')
    if not (finite(result.model) and finite(rebuilt)):
        out = {'outcome': 'crash', 'why': 'result.model or its saved weights give a non-finite eval output'}
    elif mixing:   # the same with the normalised widths (a transformer's embedding) kept: exact?
        try:
            f = shrink(model, batches, loss, LWDNAConfig(width_mult=1.5, flops_target=0.8, embedding_dim=2,
                                                         keep_normalized_widths=True, **search),
                       forward_fn=forward_fn).channel_config
            out['why'] += ('; with keep_normalized_widths: ' + ('exact' if not f['probe_channel_mixing'] else
                           ', '.join(f['probe_channel_mixing']) + ' over the kept channels') +
                           f' (probe {f["probe_relative_error"]:.1e}, FLOPs {f["flops"]["lwdna"] / f["flops"]["baseline"]:.3f})')
        except LWDNAError as e:   # every group normalised (BiT's GroupNorms): nothing left to prune
            out['why'] += f'; with keep_normalized_widths: refused ({e})'

except LWDNAError as e:
    out = {'outcome': 'refused', 'why': f'{type(e).__name__}: {e}'}
except Exception as e:
    import traceback
    frame = traceback.extract_tb(e.__traceback__)[-1]
    out = {'outcome': 'crash', 'why': f'{type(e).__name__}: {e} (at {frame.filename.split("site-packages/")[-1]}:'
                                      f'{frame.lineno})'}
print('RESULT ' + json.dumps(out))
'''


def run_one(zoo: str, name: str, size: int, timeout: float) -> Dict:
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, '-c', CHILD.replace('{IMG_SIZE_BACKBONES}', repr(IMG_SIZE_BACKBONES)),
                               zoo, name, str(size)], cwd=ROOT, capture_output=True,
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


def summary(rows: List[Tuple[str, str, int, Dict]], kind: str) -> str:
    counts: Dict[str, int] = {}
    for *_, r in rows:
        counts[r['outcome']] = counts.get(r['outcome'], 0) + 1
    accepted = sum(r['outcome'] in ('exact', 'structurally valid') for *_, r in rows)
    return (', '.join(f'{k}: {v}' for k, v in sorted(counts.items())) + f' (of {len(rows)}); {kind} accepted: '
            f'{accepted} of {len(rows)} ({100 * accepted / max(len(rows), 1):.0f} %)')


def skipped_table() -> str:
    unlisted, missing = mmpretrain_families()
    reasons: Dict[str, List[str]] = {}
    for family, why in sorted(MMPRETRAIN_SKIPPED.items()):
        reasons.setdefault(why, []).append(family)
    lines = [f'- {why}: {", ".join(families)}' for why, families in reasons.items()]
    if unlisted or missing:
        lines.append(f'- **not listed** (a new mmpretrain?): {", ".join(unlisted)}; listed but absent: '
                     f'{", ".join(missing)}')
    return '\n'.join(lines)


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


def run_section(models: List[Tuple[str, str, int]], only, timeout: float) -> List[Tuple[str, str, int, Dict]]:
    rows = []
    for zoo, name, size in models:
        if only and name not in only and name.split('/')[0] not in only:
            continue
        result = run_one(zoo, name, size, timeout)
        rows.append((zoo, name, size, result))
        print(f'{zoo:12s} {name:50s} {result["outcome"]:8s} {result.get("why", "")[:120]}', flush=True)
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--timeout', type=float, default=180.0, help='seconds per model')
    p.add_argument('--only', nargs='+', help='model names or mmpretrain families to run (default: all)')
    p.add_argument('--section', choices=('mmpretrain', 'zoos', 'transformers', 'all'), default='all')
    p.add_argument('--write', action='store_true', help='write docs/coverage.md (needs --section all)')
    args = p.parse_args(argv)
    mm_models = [('mmpretrain', f'{family}/{config}', size) for family, config, size in MMPRETRAIN]
    sections = [('mmpretrain', 'mmpretrain (its own implementations, through its registry)', 'CNNs', mm_models),
                ('zoos', 'timm / torchvision / basicsr', 'CNNs', MODELS),
                ('transformers', 'Vision transformers and MLP token mixers (timm and mmpretrain)', 'transformers',
                 TRANSFORMERS)]
    texts = []
    mm_rows = []
    for key, title, kind, models in sections:
        rows = run_section(models, args.only, args.timeout) if args.section in (key, 'all') else []
        mm_rows = rows if key == 'mmpretrain' else mm_rows
        if rows:
            texts.append(f'## {title}\n\n{summary(rows, kind)}.\n\n{table(rows)}')
            print(texts[-1])
    if mm_rows:
        print('mmpretrain config folders skipped:\n' + skipped_table())
    times = grouping_times()
    print(times)
    if args.write:
        with open(DOC, 'w') as f:
            f.write('# Coverage (`python benchmarks/coverage.py --write`)\n\n'
                    + __doc__.split('\n\n', 1)[1].rsplit('\n\n', 1)[0] + '\n\n'
                    + f'Measured {time.strftime("%Y-%m-%d")} on the 2-core CPU machine.\n\n'
                    + '\n\n'.join(texts)
                    + '\n\nmmpretrain config folders the mmpretrain section skips:\n\n' + skipped_table()
                    + '\n\nGrouping time (one process, after the runs above):\n\n' + times + '\n')


if __name__ == '__main__':
    main()
