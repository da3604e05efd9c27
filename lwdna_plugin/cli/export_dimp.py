"""Export the ResNet50 of an mmpretrain checkpoint (LW-DNA or baseline) for pytracking / DiMP.

Writes OUT.pth (state dict with torchvision / pytracking key names), OUT.safetensors (the same
tensors) and OUT_channels.json (the channel widths; give it to resnet50_lwdna / dimpnet50_kwargs):

    lwdna-export-dimp lwdna_plugin::lwdna/resnet50_in1k.py \\
        work_dirs/resnet50_in1k_lwdna/epoch_150.pth work_dirs/dimp/resnet50_lwdna

(from a clone: ``python tools/export_dimp_backbone.py configs/lwdna/resnet50_in1k.py ...``).

The channel config comes from the checkpoint's meta, else from lwdna_channels.json next to
the checkpoint. Bad input prints one 'error:' line, exits with status 2 and writes nothing.
"""
from __future__ import annotations

import argparse
import logging
import sys

from .help import HelpFormatter


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=HelpFormatter)
    p.add_argument('config', help="the mmpretrain config the checkpoint was trained with, or 'lwdna_plugin::PATH'")
    p.add_argument('checkpoint', help='the mmengine checkpoint (.pth)')
    p.add_argument('out', help='output path without suffix: OUT.pth, OUT.safetensors, OUT_channels.json')
    p.add_argument('--overwrite', action='store_true', help='replace existing output files')
    args = p.parse_args(argv)

    from mmengine.logging import MMLogger

    from lwdna_plugin import LWDNAError
    from lwdna_plugin.mmpretrain import resolve_config
    from lwdna_plugin.tracking.export import export_dimp_backbone
    from lwdna_plugin.tracking.widths import describe

    MMLogger.get_current_instance().setLevel(logging.WARNING)
    try:
        result = export_dimp_backbone(resolve_config(args.config), args.checkpoint, args.out, overwrite=args.overwrite)
    except LWDNAError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    kind = 'LW-DNA' if result['widths']['source']['lwdna'] else 'baseline'
    print(f'{kind} ResNet50 widths:\n  ' + '\n  '.join(describe(result['widths'])))
    print(f'layer1-4 features match the mmpretrain model (max relative error {result["max_rel_error"]:.1e})')
    print('wrote ' + ', '.join(result['paths'].values()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
