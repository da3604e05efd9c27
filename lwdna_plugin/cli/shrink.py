"""Shrink a timm model (by name) or an mmpretrain classifier (by config file) to its LW-DNA
version on an ImageFolder directory or the embedded digits data.

Writes into --work-dir: lwdna_channels.json (channel config), lwdna_report.md (per-layer
table), lwdna_channels.png (remaining channels per layer), lwdna_model.safetensors (the
pruned weights) and lwdna_model.json (how to rebuild the architecture).

    lwdna-shrink resnet18 --data digits --flops-target 0.9 --work-dir work_dirs/shrink_resnet18

From a clone, ``python tools/shrink.py`` is the same command.
"""
from __future__ import annotations

import argparse
import itertools
import logging
import os
import sys
import time

from .help import HelpFormatter


WEIGHTS_ARE = ("the LW-DNA network's initial weights, drawn the way the architecture initialises its baseline "
               '(not trained, not the search weights): train it from scratch with the baseline recipe')
REBUILD = {
    'timm': "model = lwdna_plugin.timm.create_lwdna_model('lwdna_channels.json'); "
            "model.load_state_dict(safetensors.torch.load_file('lwdna_model.safetensors'))",
    'mmpretrain': "model = lwdna_plugin.apply_channel_config(lwdna_plugin.mmpretrain.builder."
                  "build_classifier_from_config(CONFIG), 'lwdna_channels.json'); "
                  "model.load_state_dict(safetensors.torch.load_file('lwdna_model.safetensors'))",
}


class UsageError(Exception):
    """Bad command-line input (reported as one line, exit code 2)."""


# written together (all or none); the channel config, which readers look for, is moved in last
OUTPUTS = ('lwdna_report.md', 'lwdna_channels.png', 'lwdna_model.safetensors', 'lwdna_model.json',
           'lwdna_channels.json')


def _divisor(text: str):
    """--channel-divisor: a positive integer or 'auto'."""
    if text == 'auto':
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', got {text!r}") from None


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=HelpFormatter)
    p.add_argument('model', help='timm model name, or an mmpretrain config file (*.py)')
    p.add_argument('--data', default='digits', help="'digits' (embedded) or an ImageFolder directory")
    p.add_argument('--work-dir', required=True, help='where the results go (all of them or none)')
    p.add_argument('--input-size', type=int, default=32, help='square input side in pixels')
    p.add_argument('--batch-size', type=int, default=64, help='samples per scoring batch (at least 2)')
    p.add_argument('--num-classes', type=int, default=None, help='timm: classifier size (default: from the data)')
    target = p.add_mutually_exclusive_group()
    target.add_argument('--flops-target', type=float, help='ratio of the baseline FLOPs (default 0.9)')
    target.add_argument('--flops-target-abs', type=float, help='absolute multiply-adds')
    target.add_argument('--params-target', type=float, help='ratio of the baseline params')
    target.add_argument('--latency-target', type=float,
                        help='ratio of the baseline latency on --device at --latency-batch')
    target.add_argument('--latency-target-ms', type=float, help='milliseconds per forward pass at --latency-batch')
    p.add_argument('--latency-batch', type=int, default=1, help='batch size the latency target is measured at')
    p.add_argument('--latency-dtype', default='float32', choices=['float32', 'bfloat16', 'float16'],
                   help='dtype the latency target is measured in')
    p.add_argument('--width-mult', type=float, default=2.0, help='widening of every prunable channel group')
    p.add_argument('--rho', type=float, default=0.4, help='per-group floor, a ratio of the widened units')
    p.add_argument('--tau', type=float, default=0.45, help='floor of the group feeding the classifier')
    p.add_argument('--num-batches', type=int, default=2, help='scoring batches (search steps)')
    p.add_argument('--embedding-dim', type=int, default=8, help='hypernetwork embedding size')
    p.add_argument('--channel-divisor', type=_divisor, default=1,
                   help="kept channels are multiples of this; 'auto': the device's channel block "
                        "(16 on AVX-512 CPUs, else 8)")
    p.add_argument('--criterion', default='gradient', choices=['gradient', 'magnitude', 'gradient_sum'],
                   help='unit score (see README: search protocol)')
    p.add_argument('--seed', type=int, default=0, help='seed of the latents, the hypernetwork and the data order')
    p.add_argument('--device', default='cpu', help="torch device, e.g. 'cpu', 'cuda', 'cuda:1'")
    p.add_argument('--overwrite', action='store_true', help='replace outputs of an earlier run in --work-dir')
    return p.parse_args(argv)


def check_args(args: argparse.Namespace) -> None:
    """Values argparse cannot check, all before any data or model is loaded."""
    import torch

    if args.input_size < 1:
        raise UsageError(f'--input-size must be a positive number of pixels, got {args.input_size}')
    if args.batch_size < 2:
        raise UsageError(f'--batch-size must be at least 2 (BatchNorm trains on the scoring batches), '
                         f'got {args.batch_size}')
    if args.num_classes is not None and args.num_classes < 2:
        raise UsageError(f'--num-classes must be at least 2, got {args.num_classes}')
    try:
        torch.zeros(1, device=args.device)
    except (RuntimeError, AssertionError, ValueError) as e:
        raise UsageError(f'--device {args.device!r} is not usable here: {str(e).splitlines()[0]}') from None


def build_data(args, num_batches: int):
    """The scoring batches, read now (unreadable images fail before any model work), and the
    number of classes."""
    import torch
    from torch.utils.data import DataLoader

    if args.data == 'digits':
        from lwdna_plugin.data import DigitsDataset
        dataset = DigitsDataset('train', args.input_size, seed=args.seed)
        num_classes = 10
    else:
        if not os.path.isdir(args.data):
            raise UsageError(f'data directory {args.data!r} does not exist')
        from torchvision import datasets, transforms
        tf = transforms.Compose([transforms.Resize(args.input_size), transforms.CenterCrop(args.input_size),
                                 transforms.ToTensor(),
                                 transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
        try:
            dataset = datasets.ImageFolder(args.data, tf)
        except (OSError, RuntimeError) as e:
            raise UsageError(f'{args.data!r} is not an ImageFolder directory: {e}')
        num_classes = len(dataset.classes)
        if num_classes < 2:
            raise UsageError(f'{args.data!r} holds {num_classes} class folder(s): scoring needs at least 2 classes')
    if args.num_classes is not None and args.num_classes < num_classes:
        raise UsageError(f'--num-classes {args.num_classes} is fewer than the {num_classes} classes of the data')
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, drop_last=False,
                        generator=torch.Generator().manual_seed(args.seed))
    from PIL import Image
    try:
        batches = list(itertools.islice(loader, num_batches))
    except (OSError, ValueError, RuntimeError, Image.DecompressionBombError) as e:
        raise UsageError(f'cannot read the data in {args.data!r}: {str(e).splitlines()[0]}') from None
    return batches, num_classes


def build_model(args, num_classes):
    """(model, forward_fn, loss_fn, builder, name)."""
    import torch.nn.functional as F

    if args.model.endswith('.py'):
        if not os.path.isfile(args.model):
            raise UsageError(f'config file {args.model!r} does not exist')
        from lwdna_plugin.mmpretrain.builder import build_classifier_from_config
        from lwdna_plugin.mmpretrain.model import tensor_forward
        try:
            model = build_classifier_from_config(args.model)
        except Exception as e:   # a config that does not parse, names an unknown type or bad arguments
            first = (str(e).strip().splitlines() or [''])[0]
            raise UsageError(f'cannot build the model of config {args.model!r}: {type(e).__name__}: {first}') from None
        loss_module = model.head.loss_module

        def loss_fn(out, target):
            return loss_module(out, target)
        return model, tensor_forward, loss_fn, \
            {'zoo': 'mmpretrain', 'config': os.path.basename(args.model)}, os.path.basename(args.model)
    import timm
    if not timm.is_model(args.model):
        raise UsageError(f'{args.model!r} is neither a timm model name nor an mmpretrain config (*.py)')
    kwargs = {'num_classes': args.num_classes or num_classes}
    return timm.create_model(args.model, **kwargs), None, F.cross_entropy, \
        {'zoo': 'timm', 'name': args.model, 'kwargs': kwargs}, args.model


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='[lwdna %(asctime)s] %(message)s', datefmt='%H:%M:%S')
    from lwdna_plugin import LWDNAConfig, LWDNAError, shrink
    from lwdna_plugin.core.channel_config import write_json
    from lwdna_plugin.core.outputs import check_output_dir, write_outputs

    if all(getattr(args, t) is None for t in ('flops_target', 'flops_target_abs', 'params_target',
                                               'latency_target', 'latency_target_ms')):
        args.flops_target = 0.9
    try:
        cfg = LWDNAConfig(width_mult=args.width_mult, rho=args.rho, tau=args.tau, num_batches=args.num_batches,
                          embedding_dim=args.embedding_dim, channel_divisor=args.channel_divisor, seed=args.seed,
                          criterion=args.criterion, flops_target=args.flops_target,
                          flops_target_abs=args.flops_target_abs, params_target=args.params_target,
                          latency_target=args.latency_target, latency_target_ms=args.latency_target_ms,
                          latency_batch=args.latency_batch, latency_dtype=args.latency_dtype)
        check_args(args)
        check_output_dir(args.work_dir, OUTPUTS, args.overwrite)
        batches, num_classes = build_data(args, cfg.num_batches)
        model, forward_fn, loss_fn, builder, name = build_model(args, num_classes)
        model.to(args.device)
        start = time.time()
        result = shrink(model, ((x.to(args.device), y.to(args.device)) for x, y in batches), loss_fn, cfg,
                        forward_fn=forward_fn, model_name=name, builder=builder)
        writers = result.output_writers()
        writers['lwdna_model.safetensors'] = lambda path: save_weights(result.model, path)
        writers['lwdna_model.json'] = lambda path: write_json(
            {'builder': builder, 'channel_config': 'lwdna_channels.json', 'weights': 'lwdna_model.safetensors',
             'weights_are': WEIGHTS_ARE, 'rebuild': REBUILD[builder['zoo']]}, path)
        paths = write_outputs(args.work_dir, {name: writers[name] for name in OUTPUTS}, args.overwrite)
    except (LWDNAError, UsageError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f'error: interrupted; {args.work_dir} is as it was before this run', file=sys.stderr)
        return 130
    print(open(paths['lwdna_report.md']).read().split('| layer')[0].strip())
    print(f'wrote {", ".join(OUTPUTS)} to {args.work_dir} in {time.time() - start:.1f} s')
    return 0


def save_weights(model, path: str) -> None:
    """``model``'s state dict as safetensors, every key kept so that a strict ``load_state_dict``
    reads it back: a tensor sharing memory with an earlier one (a module shared between blocks,
    EVA-02's rotary embedding) is written as a copy of its own (safetensors refuses shared memory)."""
    from safetensors.torch import save_file
    seen, tensors = set(), {}
    for key, value in model.state_dict().items():
        value = value.contiguous()
        storage = value.untyped_storage().data_ptr()
        tensors[key] = value.clone() if storage in seen else value
        seen.add(storage)
    save_file(tensors, path)


if __name__ == '__main__':
    sys.exit(main())
