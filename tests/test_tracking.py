"""DiMP / pytracking: export an mmpretrain ResNet50 (LW-DNA after a real shrink, and baseline),
load it into the pytracking-style backbone (and torchvision), the backbone's interface
(output layers, frozen layers, strides, widths), the dimpnet50 kwargs, and bad input."""
from __future__ import annotations

import copy
import importlib.util
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import load_file

from lwdna_plugin import ChannelConfigMismatchError, ConfigError
from lwdna_plugin.core.channel_config import save_channel_config
from lwdna_plugin.tracking import baseline_widths, dimpnet50_kwargs, load_widths, resnet50_lwdna, save_widths
from lwdna_plugin.tracking.export import export_dimp_backbone, output_paths

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / 'tools' / 'export_dimp_backbone.py'
STAGES = ('layer1', 'layer2', 'layer3', 'layer4')

CONFIG = """
default_scope = 'mmpretrain'
custom_imports = dict(imports=['lwdna_plugin.mmpretrain'], allow_failed_imports=False)
data_preprocessor = dict(num_classes={classes}, mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                         to_rgb=True)
architecture = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth={depth}, num_stages=4, out_indices=(3, ){backbone}),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes={classes}, in_channels={width},
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
model = {model}
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(type='DigitsClassification', split='train', size=64,
                                     pipeline=[dict(type='PackInputs')]),
                        sampler=dict(type='DefaultSampler', shuffle=True))
"""
LWDNA_MODEL = ("dict(type='LWDNAClassifier', architecture=architecture, lwdna=dict(width_mult=1.0, "
               "flops_target=0.9, rho=0.4, tau=0.45, num_batches=2, embedding_dim=2))")


def write_config(path: Path, lwdna: bool, depth: int = 50, classes: int = 10, backbone: str = '') -> Path:
    width = 2048 if depth == 50 else 512
    path.write_text(CONFIG.format(classes=classes, depth=depth, width=width, backbone=backbone,
                                  model=LWDNA_MODEL if lwdna else 'architecture'))
    return path


def build_and_save(config: Path, checkpoint: Path, with_meta: bool = True):
    """Build the config's model (an LW-DNA one shrinks on two digit batches, as LWDNARunner does),
    give every weight and BN statistic a random value (so no block is an identity), and save an
    mmengine-style checkpoint (the channel config in its meta, as LWDNAHook stores it)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    from lwdna_plugin.mmpretrain.checkpoint import META_KEY

    cfg = Config.fromfile(config)
    init_default_scope('mmpretrain')
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg['data_preprocessor'] = cfg.data_preprocessor
    if model_cfg['type'] == 'LWDNAClassifier':
        model_cfg['scoring_dataloader'] = cfg.train_dataloader
    model = MODELS.build(model_cfg)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.copy_(0.5 + torch.rand(module.weight.shape, generator=generator))
                module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=generator))
                module.running_mean.copy_(0.1 * torch.randn(module.running_mean.shape, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(module.running_var.shape, generator=generator))
    meta = {META_KEY: model.lwdna_channel_config} if with_meta and hasattr(model, 'lwdna_channel_config') else {}
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    torch.save({'meta': meta, 'state_dict': model.state_dict()}, checkpoint)
    model.eval()
    return model


def stage_outputs(backbone, x):
    """mmpretrain's stage outputs, read with forward hooks on backbone.layer1..layer4."""
    outputs = {}
    handles = [getattr(backbone, name).register_forward_hook(
        lambda _m, _i, out, name=name: outputs.__setitem__(name, out)) for name in STAGES]
    with torch.no_grad():
        backbone(x)
    for handle in handles:
        handle.remove()
    return outputs


def rel_error(a, b):
    return float((a - b).abs().max() / b.abs().max())


def load_tool():
    spec = importlib.util.spec_from_file_location('export_dimp_backbone', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def lwdna(tmp_path_factory):
    """An LW-DNA ResNet50 after a real shrink, its checkpoint, and its export through the CLI."""
    root = tmp_path_factory.mktemp('lwdna')
    config = write_config(root / 'lwdna_r50.py', lwdna=True)
    checkpoint = root / 'work' / 'epoch_1.pth'
    model = build_and_save(config, checkpoint)
    out = root / 'export' / 'resnet50_lwdna'
    proc = subprocess.run([sys.executable, str(TOOL), str(config), str(checkpoint), str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, 'PYTHONPATH': str(ROOT)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dict(root=root, config=config, checkpoint=checkpoint, model=model, paths=output_paths(str(out)),
                log=proc.stdout)


def test_lwdna_export_loads_strictly_and_reproduces_the_stage_outputs(lwdna):
    paths, model = lwdna['paths'], lwdna['model']
    assert 'LW-DNA ResNet50 widths' in lwdna['log'] and 'wrote' in lwdna['log']
    assert float(re.search(r'max relative error ([0-9.e+-]+)', lwdna['log']).group(1)) < 1e-5
    state_dict = torch.load(paths['pth'], map_location='cpu', weights_only=True)
    tensors = load_file(paths['safetensors'])
    assert state_dict.keys() == tensors.keys() and all(torch.equal(state_dict[k], tensors[k]) for k in state_dict)
    # pytracking / torchvision key names, widths really differentiated
    assert {'conv1.weight', 'bn1.running_var', 'layer1.0.downsample.0.weight', 'layer3.5.bn3.bias',
            'layer4.2.conv3.weight', 'fc.weight', 'fc.bias'} <= state_dict.keys()
    assert not any(k.startswith(('backbone.', 'head.')) for k in state_dict)
    widths = load_widths(paths['channels'])
    assert widths['source']['lwdna'] is True and widths['num_classes'] == 10
    assert widths['stem'] == model.backbone.conv1.out_channels
    for name in STAGES:
        stage = getattr(model.backbone, name)
        assert widths['layers'][name] == {'out': stage[0].conv3.out_channels,
                                          'blocks': [[b.conv1.out_channels, b.conv2.out_channels] for b in stage]}
    assert widths['layers'] != baseline_widths()['layers']   # the shrink really differentiated the widths

    net = resnet50_lwdna(output_layers=list(STAGES), pretrained=paths['pth'], channel_config=paths['channels']).eval()
    x = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    reference = stage_outputs(model.backbone, x)
    with torch.no_grad():
        ours = net(x)
    assert list(ours) == list(STAGES)
    for name in STAGES:
        assert ours[name].shape == reference[name].shape
        assert rel_error(ours[name], reference[name]) < 1e-5, name
    channels, strides = net.out_feature_channels(), net.out_feature_strides()
    assert all(channels[name] == ours[name].shape[1] for name in STAGES)
    assert all(strides[name] == 64 // ours[name].shape[-1] for name in STAGES)
    with torch.no_grad():
        conv1 = net(x, ['conv1'])['conv1']
    assert (channels['conv1'], strides['conv1']) == (conv1.shape[1], 64 // conv1.shape[-1])

    # the widths can also come from the weights alone (safetensors)
    net2 = resnet50_lwdna(output_layers=['layer3'], pretrained=paths['safetensors']).eval()
    with torch.no_grad():
        assert torch.equal(net2(x)['layer3'], ours['layer3'])


def test_channel_config_from_the_work_dir(lwdna, tmp_path):
    """A checkpoint without the meta entry: the channel config comes from lwdna_channels.json."""
    full = torch.load(lwdna['checkpoint'], map_location='cpu', weights_only=True)
    work = tmp_path / 'work'
    work.mkdir()
    torch.save({'meta': {}, 'state_dict': full['state_dict']}, work / 'epoch_1.pth')
    save_channel_config(full['meta']['lwdna_channel_config'], work / 'lwdna_channels.json')
    result = export_dimp_backbone(str(lwdna['config']), str(work / 'epoch_1.pth'), str(tmp_path / 'out'))
    assert result['max_rel_error'] < 1e-5
    again = torch.load(result['paths']['pth'], weights_only=True)
    first = torch.load(lwdna['paths']['pth'], weights_only=True)
    assert all(torch.equal(again[k], first[k]) for k in first)


def test_baseline_export_loads_into_torchvision(tmp_path):
    config = write_config(tmp_path / 'r50.py', lwdna=False, classes=1000)
    model = build_and_save(config, tmp_path / 'work' / 'epoch_1.pth')
    result = export_dimp_backbone(str(config), str(tmp_path / 'work' / 'epoch_1.pth'), str(tmp_path / 'r50'))
    assert result['widths']['source']['lwdna'] is False
    assert result['widths']['input_normalization'] == {'mean': [0.485, 0.456, 0.406], 'std': [0.229, 0.224, 0.225],
                                                       'rgb': True}   # pytracking's normalisation
    tv = torchvision.models.resnet50()
    tv.load_state_dict(torch.load(result['paths']['pth'], map_location='cpu', weights_only=True), strict=True)
    tv.eval()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    reference = stage_outputs(model.backbone, x)
    tv_out = stage_outputs(tv, x)
    for name in ('layer2', 'layer3'):
        assert torch.equal(tv_out[name], reference[name]), name
    net = resnet50_lwdna(output_layers=['layer2', 'layer3'], pretrained=result['paths']['safetensors']).eval()
    assert net.out_feature_channels() == {'conv1': 64, 'layer1': 256, 'layer2': 512, 'layer3': 1024, 'layer4': 2048}
    with torch.no_grad():
        ours = net(x)
    assert all(torch.equal(ours[name], tv_out[name]) for name in ('layer2', 'layer3'))


def test_output_layers_stop_early_and_frozen_layers(lwdna):
    widths = load_widths(lwdna['paths']['channels'])
    net = resnet50_lwdna(output_layers=['layer2', 'layer3'], channel_config=widths)
    calls = []
    net.layer4.register_forward_hook(lambda *_: calls.append('layer4'))
    net.fc.register_forward_hook(lambda *_: calls.append('fc'))
    x = torch.randn(2, 3, 64, 64)
    out = net(x)
    assert list(out) == ['layer2', 'layer3'] and calls == []
    assert list(net(x, ['layer3', 'conv1'])) == ['conv1', 'layer3'] and calls == []
    logits = net(x, ['default'])
    assert logits.shape == (2, 10) and calls == ['layer4', 'fc']
    assert resnet50_lwdna(channel_config=widths)(x).shape == (2, 10)   # output_layers=None: pytracking's 'default'
    with pytest.raises(ValueError, match='unknown output layers'):
        net(x, ['layer5'])

    frozen = resnet50_lwdna(output_layers=['layer3'], channel_config=widths,
                            frozen_layers=['conv1', 'bn1', 'layer1'])
    names = ('conv1.', 'bn1.', 'layer1.')
    assert all(not p.requires_grad for n, p in frozen.named_parameters() if n.startswith(names))
    assert all(p.requires_grad for n, p in frozen.named_parameters() if not n.startswith(names))
    frozen.train()
    assert not frozen.bn1.training and not any(m.training for m in frozen.layer1.modules())
    assert frozen.training and all(m.training for m in frozen.layer2.modules())
    stats = frozen.layer1[0].bn1.running_mean.clone()
    frozen(x)['layer3'].sum().backward()
    assert torch.equal(frozen.layer1[0].bn1.running_mean, stats)   # eval mode: statistics untouched
    assert frozen.conv1.weight.grad is None and frozen.layer2[0].conv1.weight.grad is not None

    everything = resnet50_lwdna(channel_config=widths, frozen_layers='all').train()
    assert not any(p.requires_grad for p in everything.parameters())
    assert not any(m.training for m in everything.modules() if m is not everything)
    with pytest.raises(ConfigError, match='unknown frozen layers'):
        resnet50_lwdna(channel_config=widths, frozen_layers=['layer9'])


def test_out_feature_strides_with_dilation():
    net = resnet50_lwdna(output_layers=list(STAGES), dilation_factor=2).eval()
    with torch.no_grad():
        out = net(torch.randn(1, 3, 64, 64))
    assert net.out_feature_strides() == {'conv1': 2, 'layer1': 4, 'layer2': 8, 'layer3': 16, 'layer4': 16}
    assert all(net.out_feature_strides(name) == 64 // out[name].shape[-1] for name in STAGES)


def test_dimpnet50_kwargs_travel_with_the_network(lwdna):
    paths = lwdna['paths']
    kwargs = dimpnet50_kwargs(paths['channels'], paths['pth'])
    net = resnet50_lwdna(output_layers=['layer2', 'layer3'], pretrained=kwargs['backbone_pretrained'],
                         channel_config=kwargs['backbone_channels'])
    with torch.no_grad():
        out = net(torch.randn(1, 3, 64, 64))
    assert kwargs['bb_regressor_input_dim'] == (out['layer2'].shape[1], out['layer3'].shape[1])
    assert kwargs['clf_input_dim'] == out['layer3'].shape[1]
    assert dimpnet50_kwargs(paths['channels'], classification_layer='layer4')['clf_input_dim'] == \
        net.out_feature_channels('layer4')
    # ltr's model_constructor pickles the kwargs; reloading (backbone_pretrained=False) rebuilds the
    # same architecture, into which the trained weights load strictly
    restored = pickle.loads(pickle.dumps(kwargs))
    rebuilt = resnet50_lwdna(pretrained=False, channel_config=restored['backbone_channels'])
    rebuilt.load_state_dict(net.state_dict(), strict=True)

    widths = load_widths(paths['channels'])
    widths['layers']['layer3']['out'] = 1021
    assert dimpnet50_kwargs(widths)['clf_input_dim'] == 1021
    with pytest.raises(ConfigError, match='not a multiple of 4'):
        dimpnet50_kwargs(widths, clf_feat_blocks=1)
    widths['layers']['layer3']['out'] = 1020
    assert dimpnet50_kwargs(widths, clf_feat_blocks=1)['clf_input_dim'] == 1020


def test_docs_show_every_kwarg_dimpnet50_gets(lwdna):
    docs = (ROOT / 'docs' / 'tracking.md').read_text()
    kwargs = dimpnet50_kwargs(lwdna['paths']['channels'], lwdna['paths']['pth'])
    signature = re.search(r'\+ +(backbone_channels=None.*)\):', docs).group(1)
    assert set(kwargs) - {'backbone_pretrained'} == {part.split('=')[0] for part in re.split(r', (?![^(]*\))', signature)}
    assert all(name in docs for name in ('dimpnet50_kwargs', 'backbone_pretrained', 'load_network'))


def test_backbone_bad_input(lwdna, tmp_path):
    paths = lwdna['paths']
    save_widths(baseline_widths(num_classes=10), tmp_path / 'baseline_channels.json')
    with pytest.raises(ChannelConfigMismatchError, match='do not fit the channel config'):
        resnet50_lwdna(pretrained=paths['pth'], channel_config=tmp_path / 'baseline_channels.json')
    with pytest.raises(ConfigError, match='no weights to download'):
        resnet50_lwdna(pretrained=True)
    bad = load_widths(paths['channels'])
    bad['layers']['layer2']['blocks'].pop()
    with pytest.raises(ConfigError, match='layer2 of a ResNet50 has 4 blocks'):
        resnet50_lwdna(channel_config=bad)
    with pytest.raises(ConfigError, match='not a ResNet channel-widths config'):
        resnet50_lwdna(channel_config={'format': 'lwdna-channel-config'})


def test_export_bad_input(lwdna, tmp_path, capsys):
    tool = load_tool()
    out = tmp_path / 'out' / 'backbone'
    produced = list(output_paths(str(out)).values())

    def fails(config, checkpoint, phrase):
        assert tool.main([str(config), str(checkpoint), str(out)]) == 2
        assert phrase in capsys.readouterr().err
        assert not any(os.path.exists(p) or os.path.exists(p + '.tmp') for p in produced)

    # not a ResNet50, or not in pytracking's layout (the stride on the 1x1 conv, a stride-1 layer4)
    for name, depth, backbone, phrase in [
            ('r18', 18, '', 'not a torchvision-layout ResNet50 (depth=18'),
            ('caffe', 50, ", style='caffe'", "style='caffe'"),
            ('stride1', 50, ', strides=(1, 2, 2, 1)', 'layer4.0.conv2: stride=(1, 1) in the mmpretrain model, (2, 2)')]:
        config = write_config(tmp_path / f'{name}.py', lwdna=False, depth=depth, backbone=backbone)
        build_and_save(config, tmp_path / name / 'epoch_1.pth')
        fails(config, tmp_path / name / 'epoch_1.pth', phrase)

    # a channel config that does not match the weights
    full = torch.load(lwdna['checkpoint'], map_location='cpu', weights_only=True)
    config = copy.deepcopy(full['meta']['lwdna_channel_config'])
    group = next(g for g in config['groups'] if g['name'] == 'backbone.layer2.1.conv1:out')
    group['kept_units'] -= 1
    group['kept_indices'] = group['kept_indices'][:-1]
    torch.save({'meta': {'lwdna_channel_config': config}, 'state_dict': full['state_dict']}, tmp_path / 'bad.pth')
    fails(lwdna['config'], tmp_path / 'bad.pth', 'layer2.1.conv1.weight has shape')

    # an LW-DNA config without any channel config; an LW-DNA checkpoint with a baseline config
    (tmp_path / 'lonely').mkdir()
    torch.save({'meta': {}, 'state_dict': full['state_dict']}, tmp_path / 'lonely' / 'epoch_1.pth')
    fails(lwdna['config'], tmp_path / 'lonely' / 'epoch_1.pth', 'no LW-DNA channel config')
    fails(write_config(tmp_path / 'base.py', lwdna=False), lwdna['checkpoint'], 'builds a baseline model')
    fails(lwdna['config'], tmp_path / 'missing.pth', 'does not exist')

    # existing outputs are never overwritten
    out.parent.mkdir(parents=True, exist_ok=True)
    Path(produced[0]).write_text('keep me')
    assert tool.main([str(lwdna['config']), str(lwdna['checkpoint']), str(out)]) == 2
    assert 'already holds' in capsys.readouterr().err and Path(produced[0]).read_text() == 'keep me'
