"""Loading is data: crafted checkpoints, channel configs and builder arguments never run code or
open the files they name, and importing the plugin leaves torch's safe globals alone."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import timm
import torch
from torch._tensor import _rebuild_from_type_v2
from torch._utils import _rebuild_tensor_v2

from lwdna_plugin import ChannelConfigMismatchError, CheckpointError, ConfigError, LWDNAConfig
from lwdna_plugin.core.safe_load import NAMED_SAFE_GLOBALS_TORCH, torch_version

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / 'configs' / 'lwdna' / 'demo_digits.py'
BASELINE = ROOT / 'configs' / 'baseline' / 'demo_digits.py'


class _Attr:
    """Pickles as ``getattr(obj, name)``."""

    def __init__(self, obj, name):
        self.obj, self.name = obj, name

    def __reduce__(self):
        return getattr, (self.obj, self.name)


class _Call:
    """Pickles as torch's allowed ``_rebuild_from_type_v2(func, new_type, args, None)``, which
    calls ``func(*args)``: with ``getattr`` allowed, ``func`` can be ``eval``."""

    def __init__(self, func, new_type, args):
        self.args = (func, new_type, args, None)

    def __reduce__(self):
        return _rebuild_from_type_v2, self.args


def write_eval_payload(path: Path, marker: Path) -> None:
    """A checkpoint-shaped file that reaches ``getattr(builtins, 'eval')`` and touches ``marker``."""
    builtins_dict = _Attr(_rebuild_tensor_v2, '__builtins__')
    get = _Attr(builtins_dict, 'get')
    function_type = _Attr(get, '__class__')
    evaluate = _Call(get, function_type, ('eval',))
    code = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    torch.save({'state_dict': {}, 'meta': {'x': _Call(evaluate, function_type, (code,))},
                'message_hub': {}, 'optimizer': {}}, path)


def run(*args, timeout=600):
    env = {**os.environ, 'PYTHONPATH': str(ROOT)}
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)
    return proc, proc.stdout + proc.stderr


needs_named_allow_list = pytest.mark.skipif(
    torch_version() < NAMED_SAFE_GLOBALS_TORCH,
    reason=f'torch {torch.__version__} cannot allow-list named globals: mmengine checkpoints are refused (tested below)')

@pytest.fixture
def payload(tmp_path):
    path, marker = tmp_path / 'epoch_1.pth', tmp_path / 'pwned'
    write_eval_payload(path, marker)
    return path, marker


@needs_named_allow_list
def test_the_payload_runs_code_where_getattr_is_allowed(payload):
    """The crafted file is a real exploit: what the refusals below guard against."""
    path, marker = payload
    proc, log = run('-c', 'import sys, torch; torch.serialization.add_safe_globals([getattr])\n'
                    'try: torch.load(sys.argv[1], weights_only=True)\nexcept Exception: pass', path)
    assert marker.exists(), log


@needs_named_allow_list
def test_importing_the_plugin_leaves_torch_safe_globals_alone():
    code = ('import torch, torch.distributed.tensor, torch._dynamo\n'   # torch registers its own on import
            'before = set(torch.serialization.get_safe_globals())\n'
            'import lwdna_plugin, lwdna_plugin.mmpretrain, lwdna_plugin.timm, lwdna_plugin.tracking\n'
            'after = set(torch.serialization.get_safe_globals())\n'
            'assert after == before, after ^ before\n'
            'assert getattr not in after\n'
            'print("unchanged")')
    proc, log = run('-c', code)
    assert proc.returncode == 0 and 'unchanged' in log, log[-2000:]


@needs_named_allow_list
def test_payload_is_refused_in_process(payload):
    from lwdna_plugin.mmpretrain import channel_config_from_checkpoint, load_mmengine_checkpoint

    path, marker = payload
    before = set(torch.serialization.get_safe_globals())
    with pytest.raises(Exception, match='getattr'):
        torch.load(path, weights_only=True)
    with pytest.raises(Exception, match='only HistoryBuffer statistics'):
        load_mmengine_checkpoint(str(path))
    with pytest.raises(ChannelConfigMismatchError, match='cannot read checkpoint'):
        channel_config_from_checkpoint(str(path))
    assert not marker.exists()
    assert set(torch.serialization.get_safe_globals()) == before


@needs_named_allow_list
def test_payload_is_refused_by_test_resume_and_load_from(payload, tmp_path):
    path, marker = payload
    proc, log = run('tools/test.py', DEMO, path, '--work-dir', tmp_path / 'test')
    assert proc.returncode == 2 and 'cannot read checkpoint' in log, log[-2000:]
    # mmengine's own resume and load_from paths (a baseline config: no channel config lookup first)
    for options in (['--resume', str(path)], ['--cfg-options', f'load_from={path}']):
        proc, log = run('tools/train.py', BASELINE, '--work-dir', tmp_path / 'train', *options)
        assert proc.returncode == 2 and 'refused to load checkpoint' in log and 'getattr' in log, log[-2000:]
        assert len([line for line in log.splitlines() if line.startswith('error:')]) == 1
    assert not marker.exists()


def as_numpy1_checkpoint(src: Path, dst: Path) -> None:
    """Rewrite a checkpoint as numpy 1.x writes it: numpy 1.26.4 pickles its arrays and scalars
    through ``numpy.core.multiarray`` (measured: the same globals otherwise)."""
    from lwdna_plugin.mmpretrain import load_mmengine_checkpoint

    buffer = io.BytesIO()
    torch.save(load_mmengine_checkpoint(str(src)), buffer, _use_new_zipfile_serialization=False)
    dst.write_bytes(buffer.getvalue().replace(b'numpy._core.multiarray\n', b'numpy.core.multiarray\n'))


@needs_named_allow_list
def test_mmengine_checkpoints_of_numpy_1_and_2_load(tmp_path):
    from mmengine.logging.history_buffer import HistoryBuffer

    from lwdna_plugin.mmpretrain import load_mmengine_checkpoint

    proc, log = run('tools/train.py', BASELINE, '--work-dir', tmp_path, '--cfg-options', 'train_cfg.max_epochs=1')
    assert proc.returncode == 0, log[-2000:]
    as_numpy1_checkpoint(tmp_path / 'epoch_1.pth', tmp_path / 'numpy1.pth')
    data = (tmp_path / 'numpy1.pth').read_bytes()
    assert b'numpy.core.multiarray\n_reconstruct\n' in data and b'numpy.core.multiarray\nscalar\n' in data
    assert b'numpy._core' not in data and b'getattr' in data
    for name in ('epoch_1.pth', 'numpy1.pth'):
        hub = load_mmengine_checkpoint(str(tmp_path / name))['message_hub']
        loss = hub['log_scalars']['train/loss']
        assert isinstance(loss, HistoryBuffer) and loss.statistics('mean') > 0
    # resume (mmengine's path) from the numpy-1 file
    proc, log = run('tools/train.py', BASELINE, '--work-dir', tmp_path, '--resume', tmp_path / 'numpy1.pth',
                    '--cfg-options', 'train_cfg.max_epochs=2')
    assert proc.returncode == 0 and 'resumed epoch: 1' in log, log[-2000:]


def test_history_buffer_getattr_stand_in_looks_up_nothing_else():
    from mmengine.logging.history_buffer import HistoryBuffer

    from lwdna_plugin.mmpretrain.checkpoint import history_buffer_statistic

    assert history_buffer_statistic(HistoryBuffer, 'mean') is HistoryBuffer.mean
    for owner, name in ((HistoryBuffer, '__init__'), (HistoryBuffer, '__class__'), (_rebuild_tensor_v2, '__builtins__')):
        with pytest.raises(Exception, match='only HistoryBuffer statistics'):
            history_buffer_statistic(owner, name)


@pytest.fixture(scope='module')
def timm_config(tmp_path_factory):
    from lwdna_plugin.data import digit_batches
    from lwdna_plugin.timm import shrink_timm_model

    batches = digit_batches(size=32, batch=8, count=2)
    result = shrink_timm_model('resnet10t', batches, LWDNAConfig(flops_target=0.9, embedding_dim=2),
                               num_classes=10, drop_rate=0.1)
    return result.channel_config


def tampered(config: dict, **kwargs) -> dict:
    config = json.loads(json.dumps(config))
    config['model']['builder']['kwargs'].update(kwargs)
    return config


@pytest.mark.parametrize('kwargs,key', [
    ({'checkpoint_path': 'EVIL'}, 'checkpoint_path'),
    ({'pretrained': True}, 'pretrained'),
    ({'pretrained_cfg_overlay': {'file': 'EVIL'}}, 'pretrained_cfg_overlay'),
    ({'norm_layer': 'torch.nn.Identity'}, 'norm_layer'),
    ({'some_option': 1}, 'some_option'),
    ({'act_layer': 'os.system'}, 'act_layer'),
    ({'drop_rate': 1.5}, 'drop_rate'),
])
def test_timm_builder_arguments_off_the_allow_list_are_refused(timm_config, tmp_path, payload, kwargs, key):
    from lwdna_plugin.timm import create_lwdna_model

    path, marker = payload
    kwargs = {k: (str(path) if v == 'EVIL' else v) for k, v in kwargs.items()}
    with pytest.raises(ConfigError, match=key):
        create_lwdna_model(tampered(timm_config, **kwargs))
    file = tmp_path / 'lwdna_channels.json'
    file.write_text(json.dumps(tampered(timm_config, **kwargs)))
    with pytest.raises(ConfigError, match=key):
        create_lwdna_model(file)
    assert not marker.exists()


@pytest.mark.parametrize('name', ['hf-hub:timm/resnet18', 'local-dir:/tmp/model', 'no_such_model', 7])
def test_timm_model_names_that_load_files_are_refused(timm_config, name):
    from lwdna_plugin.timm import create_lwdna_model

    config = json.loads(json.dumps(timm_config))
    config['model']['builder']['name'] = name
    with pytest.raises(ConfigError, match="not the name of a model in timm's registry"):
        create_lwdna_model(config)


def test_a_normal_timm_channel_config_rebuilds(timm_config, tmp_path):
    from lwdna_plugin.timm import create_lwdna_model, shrink_timm_model

    file = tmp_path / 'lwdna_channels.json'
    file.write_text(json.dumps(tampered(timm_config, act_layer='silu')))
    model = create_lwdna_model(file)
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert shapes == {k: v.shape for k, v in create_lwdna_model(timm_config).state_dict().items()}
    baseline = timm.create_model('resnet10t', num_classes=10)
    assert shapes != {k: v.shape for k, v in baseline.state_dict().items()}
    assert type(model.act1) is not type(baseline.act1)   # act_layer='silu' reached timm by name
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ConfigError, match='checkpoint_path'):   # refused before it is recorded
        shrink_timm_model('resnet10t', [], LWDNAConfig(flops_target=0.9), checkpoint_path='x.pth')


def test_basicsr_network_g_from_a_channel_config_is_allow_listed(sr_batches):
    from tests.conftest import import_basicsr
    import_basicsr()
    from basicsr.utils.registry import ARCH_REGISTRY
    import torch.nn.functional as F

    from lwdna_plugin import shrink
    from lwdna_plugin.basicsr import LWDNANet

    network_g = {'type': 'EDSR', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 16, 'num_block': 2, 'upscale': 4}
    options = {k: v for k, v in network_g.items() if k != 'type'}
    config = shrink(ARCH_REGISTRY.get('EDSR')(**options), sr_batches, F.l1_loss,
                    LWDNAConfig(flops_target=0.9, embedding_dim=2),
                    builder={'zoo': 'basicsr', 'network_g': network_g}).channel_config
    assert LWDNANet(channel_config=config)(sr_batches[0][0]).shape == sr_batches[0][1].shape
    for network, phrase in [({**network_g, 'pretrained': 'x.pth'}, "'pretrained' is not allowed"),
                            ({'type': 'SpyNet', 'load_path': 'x.pth'}, "'load_path' is not allowed"),
                            ({**network_g, 'num_feat': {'a': 1}}, 'invalid value'),
                            ({**network_g, 'type': 'LWDNANet'}, 'needs the baseline arch'),
                            ({**network_g, 'type': 'builtins.eval'}, 'not an arch'),
                            ([1, 2], 'must be a JSON object')]:
        bad = json.loads(json.dumps(config))
        bad['model']['builder']['network_g'] = network
        with pytest.raises(ConfigError, match=phrase):
            LWDNANet(channel_config=bad)


@pytest.mark.parametrize('text,phrase', [
    ('[' * 100 + ']' * 100, 'nests 100 levels deep'),
    ('{"format": "lwdna-channel-config", "x": NaN}', 'not valid JSON'),
    (b'\xff\xfe\x00garbage', 'not a UTF-8 text file'),
])
def test_channel_config_files_are_read_with_limits(tmp_path, text, phrase):
    from lwdna_plugin.core import load_channel_config

    path = tmp_path / 'lwdna_channels.json'
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ChannelConfigMismatchError, match=phrase):
        load_channel_config(path)


def test_size_limit_and_example_input_shape(tmp_path, timm_config):
    from lwdna_plugin.core.safe_load import read_json_file
    from lwdna_plugin.timm import create_lwdna_model

    path = tmp_path / 'big.json'
    path.write_text('[' + '0,' * 600 + '0]')
    with pytest.raises(ConfigError, match='more than the 1000') as refused:
        read_json_file(path, 'channel config', max_bytes=1000)
    assert 'not valid JSON' not in str(refused.value)   # the size error itself, not re-worded
    config = json.loads(json.dumps(timm_config))
    config['input_shape'] = [1, 3, 100000, 100000]
    with pytest.raises(ChannelConfigMismatchError, match='input_shape'):
        create_lwdna_model(config)


@pytest.mark.skipif(torch_version() >= NAMED_SAFE_GLOBALS_TORCH, reason='this torch loads them through the allow-list')
def test_older_torch_refuses_mmengine_checkpoints_instead_of_loading_them_unsafely(tmp_path):
    """torch < 2.6 has no named allow-list entries (the HistoryBuffer statistics need one): the
    checkpoint is refused with the version it needs; weights_only=False is never the fallback."""
    from mmengine.logging.history_buffer import HistoryBuffer

    from lwdna_plugin.mmpretrain.checkpoint import load_mmengine_checkpoint

    path = tmp_path / 'epoch_1.pth'
    buffer = HistoryBuffer()
    buffer.update(1.0)
    torch.save({'state_dict': {}, 'message_hub': {'log_scalars': {'loss': buffer}}}, path)
    with pytest.raises(CheckpointError, match=r'needs torch >= 2\.6; this is torch'):
        load_mmengine_checkpoint(str(path))
