"""Export the ResNet50 of an mmpretrain checkpoint (LW-DNA or baseline) for pytracking / DiMP.

The mmpretrain model is rebuilt from its config and the checkpoint's channel config (checkpoint
meta, else the work dir's ``lwdna_channels.json``) without scoring, loaded strictly, renamed
to torchvision / pytracking keys (``backbone.X`` -> ``X``, ``head.fc`` -> ``fc``) and checked
twice against :class:`LWDNAResNet`: every conv / norm / pool has the same kernel, stride,
padding and dilation, and layer1–layer4 give the same features. Only then are the three
files written (all together; nothing is left behind on error or Ctrl-C)."""
from __future__ import annotations

import copy
import os
from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn as nn

from ..core.channel_config import load_channel_config, write_json
from ..core.errors import ChannelConfigMismatchError, ConfigError, UnsupportedModelError
from ..core.outputs import check_output_dir, write_outputs
from .resnet import LWDNAResNet
from .weights import load_strict
from .widths import STAGES, widths_from_state_dict

CHANNELS_FILE = 'lwdna_channels.json'   # what LWDNAHook writes into the work dir
MAX_REL_ERROR = 1e-4


def output_paths(out: str) -> Dict[str, str]:
    """``OUT.pth``, ``OUT.safetensors`` and ``OUT_channels.json`` (a ``.pth`` / ``.safetensors``
    suffix on ``out`` is dropped)."""
    stem = out
    for suffix in ('.pth', '.safetensors'):
        if stem.endswith(suffix):
            stem = stem[:-len(suffix)]
    return {'pth': stem + '.pth', 'safetensors': stem + '.safetensors', 'channels': stem + '_channels.json'}


def export_dimp_backbone(config: str, checkpoint: str, out: str, overwrite: bool = False) -> Dict[str, Any]:
    """Write the backbone of ``checkpoint`` (built with ``config``) for pytracking.

    Returns the written paths, the widths and the largest relative feature difference found
    by the check. Raises an :class:`LWDNAError` subclass on bad input, before writing anything.
    """
    paths = output_paths(os.fspath(out))
    check_output_dir(os.path.dirname(os.path.abspath(paths['pth'])), [os.path.basename(p) for p in paths.values()],
                     overwrite)
    model, lwdna = build_from_checkpoint(config, checkpoint)
    state_dict = pytracking_state_dict(model)
    widths = widths_from_state_dict(state_dict)
    widths['source'] = {'config': os.path.basename(config), 'checkpoint': os.path.basename(checkpoint),
                        'lwdna': lwdna}
    widths['input_normalization'] = _normalization(model)
    net = LWDNAResNet(widths, output_layers=list(STAGES))
    load_strict(net, state_dict, 'the renamed weights do not fit the ResNet50 built from their widths')
    check_same_layout(model, net)
    rel_error = max_feature_error(model, net)
    if rel_error > MAX_REL_ERROR:
        raise UnsupportedModelError(f'the exported backbone does not reproduce the mmpretrain stage outputs '
                                    f'(relative error {rel_error:.2e}); the model is not a plain ResNet50')
    _write(paths, state_dict, widths, overwrite)
    return {'paths': paths, 'widths': widths, 'max_rel_error': rel_error}


def build_from_checkpoint(config: str, checkpoint: str) -> Tuple[nn.Module, bool]:
    """The mmpretrain classifier of ``config`` with the weights of ``checkpoint`` loaded
    strictly, and whether it is an LW-DNA model."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    from ..mmpretrain.checkpoint import META_KEY

    if not os.path.isfile(config):
        raise ConfigError(f'config {config!r} does not exist')
    try:
        cfg = Config.fromfile(config)
    except Exception as e:  # syntax errors, missing _base_ files
        raise ConfigError(f'cannot read config {config!r}: {type(e).__name__}: {e}') from None
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    state_dict, meta = _read_checkpoint(checkpoint)
    model_cfg = copy.deepcopy(cfg.model)
    if model_cfg.get('data_preprocessor') is None and cfg.get('data_preprocessor') is not None:
        model_cfg['data_preprocessor'] = cfg.data_preprocessor
    lwdna = model_cfg.get('type') == 'LWDNAClassifier'
    if lwdna:
        channel_config = meta.get(META_KEY)
        saved = os.path.join(os.path.dirname(os.path.abspath(checkpoint)), CHANNELS_FILE)
        if channel_config is None and os.path.isfile(saved):
            channel_config = load_channel_config(saved)
        if channel_config is None:
            raise ChannelConfigMismatchError(
                f'no LW-DNA channel config for {checkpoint!r}: its meta has no {META_KEY!r} and {saved} does not exist')
        model_cfg['channel_config'] = channel_config
    elif META_KEY in meta:
        raise ChannelConfigMismatchError(f'{checkpoint!r} holds an LW-DNA channel config but {config!r} builds a '
                                         'baseline model; pass the LW-DNA config it was trained with')
    model = MODELS.build(model_cfg)   # LWDNAClassifier: rebuilt from the channel config, no scoring
    check_is_resnet50(model)
    load_strict(model, state_dict, f'the weights of {checkpoint!r} do not fit the model built from {config!r}'
                + (' and its channel config' if lwdna else ''))
    model.eval()
    return model, lwdna


def check_is_resnet50(model: nn.Module) -> None:
    """Raise :class:`UnsupportedModelError` unless ``model`` is a classifier with mmpretrain's
    plain ``ResNet`` (depth 50, 7×7 stem, stride on the 3×3 conv) and a linear ``head.fc``."""
    from mmpretrain.models.backbones import ResNet

    backbone = getattr(model, 'backbone', None)
    if type(backbone) is not ResNet:
        raise UnsupportedModelError(f'the backbone is {type(backbone).__name__}, not mmpretrain\'s ResNet (depth 50): '
                                    'only a ResNet50 can be exported for DiMP')
    differences = [f'{name}={getattr(backbone, name)!r}' for name, want in
                   (('depth', 50), ('deep_stem', False), ('avg_down', False), ('style', 'pytorch'))
                   if getattr(backbone, name) != want]
    if differences:
        raise UnsupportedModelError(f'not a torchvision-layout ResNet50 ({", ".join(differences)}); pytracking\'s '
                                    'backbone is ResNet depth=50, style="pytorch", no deep stem, no avg_down')
    if not isinstance(getattr(getattr(model, 'head', None), 'fc', None), nn.Linear):
        raise UnsupportedModelError('the head has no linear layer "fc" (mmpretrain LinearClsHead) to export as fc')


def pytracking_state_dict(model: nn.Module) -> Dict[str, torch.Tensor]:
    """``backbone.X`` -> ``X`` and ``head.fc.X`` -> ``fc.X``; anything else is an error."""
    renamed, other = {}, []
    for key, value in model.state_dict().items():
        if key.startswith('backbone.'):
            renamed[key[len('backbone.'):]] = value.detach().clone().contiguous()
        elif key.startswith('head.fc.'):
            renamed['fc.' + key[len('head.fc.'):]] = value.detach().clone().contiguous()
        else:
            other.append(key)
    if other:
        raise UnsupportedModelError(f'weights outside backbone and head.fc cannot go to pytracking: {other[:5]}')
    return renamed


def check_same_layout(model: nn.Module, net: LWDNAResNet) -> None:
    """Every conv / batch norm / pool / linear of ``net`` has its twin (same name, kernel, stride,
    padding, dilation, groups, bias, eps) in the mmpretrain ``model``."""
    source = dict(model.backbone.named_modules())
    source['fc'] = model.head.fc
    fields = {nn.Conv2d: ('kernel_size', 'stride', 'padding', 'dilation', 'groups', 'padding_mode'),
              nn.BatchNorm2d: ('eps', 'affine', 'track_running_stats'),
              nn.MaxPool2d: ('kernel_size', 'stride', 'padding', 'dilation', 'ceil_mode'),
              nn.Linear: ()}
    for name, module in net.named_modules():
        kind = type(module)
        if kind not in fields:
            continue
        twin = source.get(name)
        if not isinstance(twin, kind):
            raise UnsupportedModelError(f'{name}: pytracking\'s ResNet50 has a {kind.__name__} here, the mmpretrain '
                                        f'model has {type(twin).__name__ if twin is not None else "nothing"}')
        for field in fields[kind]:
            if getattr(module, field) != getattr(twin, field):
                raise UnsupportedModelError(f'{name}: {field}={getattr(twin, field)!r} in the mmpretrain model, '
                                            f'{getattr(module, field)!r} in pytracking\'s ResNet50 layout')
        if getattr(module, 'bias', None) is None and getattr(twin, 'bias', None) is not None:
            raise UnsupportedModelError(f'{name}: the mmpretrain layer has a bias, pytracking\'s has none')


@torch.no_grad()
def max_feature_error(model: nn.Module, net: LWDNAResNet, size: int = 64) -> float:
    """Largest relative difference (max |a-b| / max |b|) between ``net``'s layer1–layer4 and the
    mmpretrain backbone's stage outputs on a fixed random batch, both in eval mode."""
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    model.eval()   # (mmpretrain's ResNet.train returns None: no chaining)
    net.eval()
    reference = stage_outputs(model.backbone, x)
    ours = net(x, list(STAGES))
    return max(float((ours[name] - reference[name]).abs().max() / reference[name].abs().max().clamp_min(1e-12))
               for name in STAGES)


def stage_outputs(backbone: nn.Module, x: torch.Tensor) -> Dict[str, torch.Tensor]:
    """The outputs of ``backbone.layer1``–``layer4`` (forward hooks, one forward pass)."""
    outputs: Dict[str, torch.Tensor] = {}
    handles = [getattr(backbone, name).register_forward_hook(
        lambda _m, _i, out, name=name: outputs.__setitem__(name, out.detach().clone())) for name in STAGES]
    try:
        backbone(x)
    finally:
        for handle in handles:
            handle.remove()
    return outputs


def _read_checkpoint(path: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, Any]]:
    """(state dict, meta) of an mmengine checkpoint, or of a plain state dict."""
    from ..mmpretrain.checkpoint import load_mmengine_checkpoint

    if not os.path.isfile(path):
        raise ConfigError(f'checkpoint {path!r} does not exist')
    try:
        checkpoint = load_mmengine_checkpoint(path)
    except Exception as e:  # corrupt / truncated / not a checkpoint
        raise ConfigError(f'cannot read checkpoint {path!r}: {type(e).__name__}: {e}') from None
    if not isinstance(checkpoint, dict):
        raise ConfigError(f'{path!r} is not a checkpoint (a dict with "state_dict")')
    state_dict = checkpoint.get('state_dict', checkpoint)
    if not state_dict or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise ConfigError(f'{path!r} holds no state dict of tensors')
    return state_dict, checkpoint.get('meta') or {}


def _normalization(model: nn.Module) -> Optional[Dict[str, Any]]:
    """The model's input normalisation on a 0–1 scale (pytracking's convention), for the record."""
    preprocessor = getattr(model, 'data_preprocessor', None)
    mean, std = getattr(preprocessor, 'mean', None), getattr(preprocessor, 'std', None)
    if not isinstance(mean, torch.Tensor) or not isinstance(std, torch.Tensor):
        return None
    return {'mean': [round(float(v) / 255, 6) for v in mean.flatten()],
            'std': [round(float(v) / 255, 6) for v in std.flatten()],
            'rgb': bool(getattr(preprocessor, 'to_rgb', False))}


def _write(paths: Dict[str, str], state_dict: Dict[str, torch.Tensor], widths: Dict[str, Any],
           overwrite: bool) -> None:
    """Write the three files together (all or none, see :func:`write_outputs`)."""
    from safetensors.torch import save_file

    out_dir = os.path.dirname(os.path.abspath(paths['pth']))
    writers = {'pth': lambda path: torch.save(state_dict, path),
               'safetensors': lambda path: save_file(state_dict, path),
               'channels': lambda path: write_json(widths, path)}
    write_outputs(out_dir, {os.path.basename(paths[kind]): writers[kind] for kind in writers}, overwrite)
