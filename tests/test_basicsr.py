"""basicsr integration: the Table 2 archs and every option file under configs/basicsr, the
denoising dataset, the embedded demo end to end with basicsr's own pipelines (train, EMA,
resume, test-style inference), a two-process gloo run, and bad input."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from lwdna_plugin import ChannelConfigMismatchError, ConfigError, LWDNAConfig, count_flops_params, shrink
from lwdna_plugin.core.masking import relative_error, zero_removed_channels
from tests.conftest import import_basicsr

import_basicsr()
import lwdna_plugin.basicsr  # noqa: E402,F401  (registers the archs, dataset and model)
from basicsr.archs import build_network  # noqa: E402
from basicsr.utils.options import ordered_yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / 'configs' / 'basicsr'
EDSR_DEMO, DNCNN_DEMO = CONFIGS / 'lwdna' / 'demo_edsr_x4.yml', CONFIGS / 'lwdna' / 'demo_dncnn_sigma70.yml'
SHORT = ['logger:print_freq=4', 'logger:save_checkpoint_freq=4', 'val:val_freq=8',
         'datasets:train:batch_size_per_gpu=4']


def load_options(path: Path) -> dict:
    with open(path) as f:
        return yaml.load(f, Loader=ordered_yaml()[0])


def run(cwd: Path, *args: str, timeout: int = 600):
    env = {**os.environ, 'PYTHONPATH': str(ROOT)}
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)
    return proc, proc.stdout + proc.stderr


def train(cwd: Path, option: Path, *force: str, extra=()):
    return run(cwd, ROOT / 'tools' / 'train_basicsr.py', '-opt', option, *extra, '--force_yml', *force)


def error_lines(log: str) -> list:
    return [line for line in log.splitlines() if line.startswith('error:')]


def last_psnr(log: str) -> float:
    return float(re.findall(r'# psnr: ([0-9.]+)', log)[-1])


@pytest.fixture(scope='module')
def demo(tmp_path_factory) -> Path:
    """A run folder holding the embedded demo data under data/restoration_demo."""
    root = tmp_path_factory.mktemp('basicsr_demo')
    spec = importlib.util.spec_from_file_location('make_demo', ROOT / 'tools' / 'make_restoration_demo_data.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main(['--out', str(root / 'data' / 'restoration_demo')]) == 0
    return root


# -- archs and option files -------------------------------------------------------------------

def test_table2_denoisers_at_128x128():
    """Table 2: DnCNN 0.56 M / 9.10 G, U-Net 7.76 M / 3.41 G (the paper's FLOPs, 1×1×128×128)."""
    from lwdna_plugin.basicsr import DnCNN, RestorationUNet

    flops, params = count_flops_params(DnCNN(), input_shape=(1, 1, 128, 128))
    assert params == 557_057 and round(params / 1e6, 2) == 0.56
    assert abs(flops / 9.10e9 - 1) < 0.005, flops
    flops, params = count_flops_params(RestorationUNet(), input_shape=(1, 1, 128, 128))
    assert params == 7_759_521 and round(params / 1e6, 2) == 7.76
    assert abs(flops / 3.41e9 - 1) < 0.005, flops
    # any input size: reflection-padded to a multiple of 16 and cropped back
    assert RestorationUNet()(torch.rand(1, 1, 50, 37)).shape == (1, 1, 50, 37)


def _conv(c_in, c_out, k=3):
    return k * k * c_in * c_out + c_out


def _expected_size(net: dict):
    """(params, conv multiply-adds, input shape) of the paper's baselines, from their definitions."""
    t = net['type']
    if t == 'EDSR':   # conv_first, 2 convs per block, conv_after_body, two x2 upsamplers, conv_last
        c, b = net['num_feat'], net['num_block']
        params = _conv(3, c) + 2 * b * _conv(c, c) + _conv(c, c) + 2 * _conv(c, 4 * c) + _conv(c, 3)
        px = 48 * 48
        macs = px * 9 * (3 * c + (2 * b + 1) * c * c + 4 * c * c) + 4 * px * 9 * 4 * c * c + 16 * px * 9 * 3 * c
        return params, macs, (1, 3, 48, 48)
    if t == 'MSRResNet':   # conv_first, 2 convs per block, upconv1/2, conv_hr, conv_last
        c, b = net['num_feat'], net['num_block']
        params = _conv(3, c) + 2 * b * _conv(c, c) + 2 * _conv(c, 4 * c) + _conv(c, c) + _conv(c, 3)
        px = 24 * 24
        macs = px * 9 * (3 * c + 2 * b * c * c + 4 * c * c) + 4 * px * 9 * 4 * c * c + 16 * px * 9 * (c * c + 3 * c)
        return params, macs, (1, 3, 24, 24)
    if t == 'DnCNN':
        return 557_057, 9.10e9, (1, 1, 128, 128)
    return 7_759_521, 3.41e9, (1, 1, 128, 128)


PAPER = sorted(p.name for p in (CONFIGS / 'baseline').glob('*.yml') if not p.name.startswith('demo'))


@pytest.mark.parametrize('option', sorted(str(p.relative_to(CONFIGS)) for p in CONFIGS.glob('*/*.yml')))
def test_every_option_file_builds(option):
    opt = load_options(CONFIGS / option)
    net = build_network(opt['network_g']) if opt['network_g']['type'] != 'LWDNANet' else None
    if option.startswith('test/'):
        assert opt['network_g']['channel_config'].endswith('lwdna_channels.json')
        return
    assert opt['model_type'] == 'LWDNASRModel' and opt['train']['pixel_opt']['type'] == 'L1Loss'
    name = Path(option).name
    if option.startswith('lwdna/'):
        LWDNAConfig.from_dict(dict(opt['lwdna']))
        twin = load_options(CONFIGS / 'baseline' / name)   # the same file plus an lwdna block
        assert opt['name'] == twin['name'].replace('_baseline', '_lwdna')
        assert {k: v for k, v in opt.items() if k not in ('lwdna', 'name')} == \
            {k: v for k, v in twin.items() if k != 'name'}
    if name in PAPER:
        params, macs, shape = _expected_size(opt['network_g'])
        flops, n = count_flops_params(net, input_shape=shape)
        assert n == params
        assert abs(flops / macs - 1) < 0.005   # the convention adds BN, activations, interpolation
        assert opt['train']['optim_g'] == {'type': 'Adam', 'lr': 1e-4, 'weight_decay': 1e-4, 'betas': [0.9, 0.999]}
        assert opt['train']['scheduler']['gamma'] == 0.1
        iters = opt['train']['total_iter'] / opt['train']['scheduler']['milestones'][0]
        assert iters == pytest.approx(1.5)   # lr x0.1 at 2/3 of training (200/300 and 40/60 epochs)


@pytest.fixture(scope='module')
def gray_batches(demo):
    from lwdna_plugin.basicsr import GaussianDenoisingDataset

    ds = GaussianDenoisingDataset(dict(name='t', dataroot_gt=str(demo / 'data/restoration_demo/denoise/train'),
                                       sigma=70, phase='train', gt_size=16))
    torch.manual_seed(0)
    np.random.seed(0)
    items = [ds[i] for i in range(0, 400, 100)]
    lq, gt = torch.stack([i['lq'] for i in items]), torch.stack([i['gt'] for i in items])
    return [(lq[:2], gt[:2]), (lq[2:], gt[2:])]


@pytest.mark.parametrize('stem', ['dncnn_sigma70_div2k', 'unet_sigma70_div2k'])
def test_paper_denoiser_targets_are_reached_exactly(stem, gray_batches):
    """The paper DnCNN / U-Net LW-DNA options (Table 2 targets 59.6 % / 95.6 %), scored here on
    two small real batches, land within ±0.5 % of the target, and the pruned network equals the
    widened one with the removed channels zeroed. (The FLOPs ratio of these fully
    convolutional nets does not depend on the input size; EDSR and MSRResNet exactness is
    covered in test_families.)"""
    opt = load_options(CONFIGS / 'lwdna' / f'{stem}.yml')
    torch.manual_seed(0)
    from lwdna_plugin.basicsr.model import run_optimizer
    result = shrink(build_network(opt['network_g']), gray_batches, F.l1_loss,
                    LWDNAConfig.from_dict({**opt['lwdna'], 'embedding_dim': 2}),
                    make_optimizer=run_optimizer(opt))   # the search steps with the run's Adam, as the adapter does
    config = result.channel_config
    assert abs(config['flops']['lwdna'] / config['target']['value'] - 1) <= 0.005
    assert config['target']['value'] == pytest.approx(opt['lwdna']['flops_target'] * config['flops']['baseline'])
    x = gray_batches[0][0]
    reference = zero_removed_channels(result.widened_graph, result.keep_unit).eval()
    with torch.no_grad():
        assert relative_error(result.searched_model.eval().double()(x.double()), reference.double()(x.double())) < 1e-9


# -- dataset ------------------------------------------------------------------------------------

def test_denoising_dataset_noise(demo):
    from lwdna_plugin.basicsr import GaussianDenoisingDataset

    folder = str(demo / 'data/restoration_demo/denoise')
    train = GaussianDenoisingDataset(dict(name='t', dataroot_gt=folder + '/train', sigma=70, phase='train',
                                          gt_size=48, use_hflip=True, use_rot=True))
    a, b = train[3], train[3]
    assert a['lq'].shape == a['gt'].shape == (1, 48, 48)
    assert not torch.equal(a['lq'] - a['gt'], b['lq'] - b['gt'])          # fresh noise every time
    assert float((a['lq'] - a['gt']).std()) == pytest.approx(70 / 255, rel=0.1)
    val = GaussianDenoisingDataset(dict(name='v', dataroot_gt=folder + '/val', sigma=70, phase='val'))
    again = GaussianDenoisingDataset(dict(name='v', dataroot_gt=folder + '/val', sigma=70, phase='val'))
    first = [val[i]['lq'] for i in range(len(val))]
    assert all(torch.equal(again[i]['lq'], first[i]) for i in reversed(range(len(val))))   # fixed per image
    assert val[0]['gt'].shape == (1, 256, 256) and val[0]['lq_path'].endswith('.png')
    noise = val[0]['lq'] - val[0]['gt']
    assert float(noise.std()) == pytest.approx(70 / 255, rel=0.05)
    other = GaussianDenoisingDataset(dict(name='v', dataroot_gt=folder + '/val', sigma=70, phase='val', noise_seed=1))
    assert not torch.equal(other[0]['lq'], val[0]['lq'])
    (demo / 'empty').mkdir()
    with pytest.raises(ConfigError, match='no images in'):
        GaussianDenoisingDataset(dict(name='e', dataroot_gt=str(demo / 'empty'), sigma=70, phase='val'))


# -- the demo end to end ------------------------------------------------------------------------

def test_edsr_demo_train_ema_resume_and_test(demo):
    proc, log = train(demo, EDSR_DEMO, 'train:total_iter=8', 'train:ema_decay=0.9', *SHORT)
    assert proc.returncode == 0, log[-3000:]
    exp = demo / 'experiments' / 'demo_edsr_x4_lwdna'
    config = json.loads((exp / 'lwdna_channels.json').read_text())
    assert abs(config['flops']['lwdna'] / (0.9 * config['flops']['baseline']) - 1) <= 0.005
    assert (exp / 'lwdna_channels.png').read_bytes()[:4] == b'\x89PNG'
    assert '| layer' in (exp / 'lwdna_report.md').read_text()
    assert log.count('LW-DNA: scored batch 2/2') == 1 and 'LW-DNA summary' in log
    assert 'LW-DNA result on demo_sr_x4_val @ iter 8: psnr' in log
    for name in ('models/net_g_4.pth', 'models/net_g_8.pth', 'models/net_g_latest.pth', 'training_states/8.state'):
        assert (exp / name).is_file(), name

    # the saved net_g (and its EMA) load strictly into the rebuilt arch
    from lwdna_plugin.basicsr import LWDNANet
    saved = torch.load(exp / 'models' / 'net_g_8.pth', map_location='cpu', weights_only=True)
    net = LWDNANet(channel_config=str(exp / 'lwdna_channels.json'))
    net.load_state_dict(saved['params'], strict=True)
    net.load_state_dict(saved['params_ema'], strict=True)
    assert any(not torch.equal(saved['params'][k], saved['params_ema'][k]) for k in saved['params'])
    assert count_flops_params(net, input_shape=config['input_shape'])[0] == config['flops']['lwdna']

    # resume the latest state: identical architecture, no new scoring
    proc, log2 = train(demo, EDSR_DEMO, 'train:total_iter=12', 'train:ema_decay=0.9', *SHORT, extra=['--auto_resume'])
    assert proc.returncode == 0, log2[-3000:]
    assert 'scored batch' not in log2 and 'no new scoring' in log2
    assert 'Resuming training from epoch: 0, iter: 8' in log2
    resumed = torch.load(exp / 'models' / 'net_g_12.pth', map_location='cpu', weights_only=True)
    assert {k: v.shape for k, v in resumed['params'].items()} == {k: v.shape for k, v in saved['params'].items()}

    # basicsr test.py-style inference on the latest EMA weights reproduces the last validation
    proc, log3 = run(demo, ROOT / 'tools' / 'test_basicsr.py', '-opt', CONFIGS / 'test' / 'demo_edsr_x4_lwdna.yml',
                     '--force_yml', 'path:param_key_g=params_ema')
    assert proc.returncode == 0, log3[-3000:]
    assert last_psnr(log3) == pytest.approx(last_psnr(log2), abs=1e-4)
    assert list((demo / 'results' / 'demo_edsr_x4_lwdna_test' / 'visualization').rglob('*.png'))


def test_dncnn_demo_lwdna_and_baseline(demo):
    proc, log = train(demo, DNCNN_DEMO, 'train:total_iter=8', *SHORT)
    assert proc.returncode == 0, log[-3000:]
    exp = demo / 'experiments' / 'demo_dncnn_sigma70_lwdna'
    config = json.loads((exp / 'lwdna_channels.json').read_text())
    assert abs(config['flops']['lwdna'] / (0.596 * config['flops']['baseline']) - 1) <= 0.005
    assert (exp / 'models' / 'net_g_8.pth').is_file() and last_psnr(log) > 0

    proc, log = train(demo, CONFIGS / 'baseline' / 'demo_dncnn_sigma70.yml', 'train:total_iter=4', *SHORT)
    assert proc.returncode == 0, log[-3000:]
    base = demo / 'experiments' / 'demo_dncnn_sigma70_baseline'
    assert (base / 'models' / 'net_g_4.pth').is_file() and not (base / 'lwdna_channels.json').exists()
    assert 'LW-DNA' not in log


def test_two_process_gloo_run(demo, tmp_path):
    """torchrun on CPU: rank 0 scores, both ranks build the same network (DDP checks the shapes)."""
    proc, log = run(demo, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--standalone',
                    ROOT / 'tools' / 'train_basicsr.py', '-opt', DNCNN_DEMO, '--launcher', 'pytorch',
                    '--force_yml', 'name=ddp_dncnn', 'train:total_iter=4', *SHORT)
    assert proc.returncode == 0, log[-4000:]
    assert 'World size (gpu number): 2' in log and log.count('scored batch 2/2') == 1
    exp = demo / 'experiments' / 'ddp_dncnn'
    assert (exp / 'lwdna_channels.json').is_file() and (exp / 'models' / 'net_g_4.pth').is_file()


def test_two_process_gloo_run_with_a_latency_target(demo, monkeypatch):
    """Only rank 0 times a latency target, in the option check and in the shrink: ranks timing
    it apart on shared cores could disagree on whether it is reachable, and one would wait for
    the other forever. The shrink reuses the check's layer table."""
    monkeypatch.setenv('LWDNA_CACHE_DIR', str(demo / 'latency_cache_ddp'))
    proc, log = run(demo, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--standalone',
                    ROOT / 'tools' / 'train_basicsr.py', '-opt', DNCNN_DEMO, '--launcher', 'pytorch',
                    '--force_yml', 'name=ddp_latency_dncnn', 'lwdna:flops_target=~', 'lwdna:latency_target=0.9',
                    'lwdna:latency_batch=4', 'train:total_iter=4', *SHORT)
    assert proc.returncode == 0, log[-4000:]
    assert log.count('latency table:') == 2, log[-4000:]   # rank 0: the option check, then the shrink
    config = json.loads((demo / 'experiments' / 'ddp_latency_dncnn' / 'lwdna_channels.json').read_text())
    assert config['target']['kind'] == 'latency' and config['latency']['table_points_measured'] == 0


# -- bad input ----------------------------------------------------------------------------------

def _earlier_results(demo: Path, name: str) -> Path:
    exp = demo / 'experiments' / name
    exp.mkdir(parents=True, exist_ok=True)
    (exp / 'keep.txt').write_text('earlier results')
    return exp


@pytest.mark.parametrize('force,phrase', [
    (['lwdna:rho=2.0'], 'rho must be in (0, 1]'),
    (['datasets:train:dataroot_gt=no/such/folder'], "datasets:train:dataroot_gt: 'no/such/folder' does not exist"),
])
def test_bad_options_fail_before_anything_is_written(demo, force, phrase):
    exp = _earlier_results(demo, 'bad_dncnn')
    proc, log = train(demo, DNCNN_DEMO, 'name=bad_dncnn', *force)
    assert proc.returncode == 2 and phrase in log, log[-2000:]
    assert len(error_lines(log)) == 1 and 'Traceback' not in log
    assert sorted(os.listdir(exp)) == ['keep.txt'] and not list(exp.parent.glob('bad_dncnn_archived_*'))


def test_train_set_smaller_than_a_batch(demo):
    for sub in ('HR', 'LR'):
        (demo / 'data' / 'tiny' / sub).mkdir(parents=True, exist_ok=True)
    proc, log = train(demo, EDSR_DEMO, 'name=bad_edsr', 'datasets:train:dataroot_gt=data/tiny/HR',
                      'datasets:train:dataroot_lq=data/tiny/LR')
    assert proc.returncode == 2 and 'has 0 samples, fewer than one batch' in log, log[-2000:]


def test_unreachable_target_fails_before_any_folder_is_made(demo):
    exp = _earlier_results(demo, 'far_dncnn')
    proc, log = train(demo, DNCNN_DEMO, 'name=far_dncnn', 'lwdna:flops_target=0.05')
    assert proc.returncode == 2 and 'floors' in log and len(error_lines(log)) == 1, log[-2000:]
    assert 'scored batch' not in log
    assert sorted(os.listdir(exp)) == ['keep.txt'] and not list(exp.parent.glob('far_dncnn_archived_*'))
    proc, log = train(demo, DNCNN_DEMO, 'name=far_new_dncnn', 'lwdna:flops_target=0.05')
    assert proc.returncode == 2 and not (demo / 'experiments' / 'far_new_dncnn').exists()
    assert not (demo / 'tb_logger' / 'far_new_dncnn').exists()


def test_latency_target_in_an_option_file(demo, monkeypatch):
    """``latency_target`` in the lwdna block: timed on the training device at the option file's
    patch size before basicsr makes any folder (floors over the budget: refused, an earlier run's
    folder neither archived nor touched), then the shrink reuses the cached layer table."""
    monkeypatch.setenv('LWDNA_CACHE_DIR', str(demo / 'latency_cache'))
    latency = ['lwdna:flops_target=~', 'lwdna:latency_target=0.9', 'lwdna:latency_batch=4']
    exp = _earlier_results(demo, 'slow_dncnn')
    proc, log = train(demo, DNCNN_DEMO, 'name=slow_dncnn', *latency, 'lwdna:rho=1.0')
    assert proc.returncode == 2 and 'below what the floors already keep' in log, log[-2000:]
    assert len(error_lines(log)) == 1 and 'Traceback' not in log
    assert sorted(os.listdir(exp)) == ['keep.txt'] and not list(exp.parent.glob('slow_dncnn_archived_*'))

    proc, log = train(demo, DNCNN_DEMO, 'name=latency_dncnn', *latency, 'train:total_iter=4', *SHORT)
    assert proc.returncode == 0, log[-3000:]
    config = json.loads((demo / 'experiments' / 'latency_dncnn' / 'lwdna_channels.json').read_text())
    lat = config['latency']
    assert config['target']['kind'] == 'latency' and lat['batch'] == 4 and lat['device'].endswith('threads)')
    assert lat['table_points_measured'] == 0 and lat['table_points_cached'] > 0   # timed by the option check
    assert all(r['predicted_s'] <= lat['target_s'] * 1.001 for r in lat['rounds'])


def test_corrupt_resume_state_and_checkpoint(demo):
    exp = _earlier_results(demo, 'corrupt_dncnn')
    (exp / 'training_states').mkdir(exist_ok=True)
    (exp / 'training_states' / '99.state').write_bytes(b'not a state')
    proc, log = train(demo, DNCNN_DEMO, 'name=corrupt_dncnn', extra=['--auto_resume'])
    assert proc.returncode == 2 and 'cannot read resume_state' in log, log[-2000:]
    assert sorted(os.listdir(exp)) == ['keep.txt', 'training_states']

    (exp / 'bad.pth').write_bytes(b'not a checkpoint')
    proc, log = train(demo, CONFIGS / 'baseline' / 'demo_dncnn_sigma70.yml', 'name=corrupt_pretrained',
                      f'path:pretrain_network_g={exp / "bad.pth"}')
    assert proc.returncode == 2 and 'cannot load' in log and len(error_lines(log)) == 1, log[-2000:]


def test_channel_config_of_another_network_is_refused(gray_batches):
    from lwdna_plugin.basicsr import LWDNANet

    dncnn = load_options(DNCNN_DEMO)
    config = shrink(build_network(dncnn['network_g']), gray_batches, F.l1_loss,
                    LWDNAConfig.from_dict(dict(dncnn['lwdna']))).channel_config
    rebuilt = LWDNANet(channel_config=config, base=dncnn['network_g'])
    assert rebuilt(gray_batches[0][0]).shape == gray_batches[0][0].shape
    edsr = load_options(CONFIGS / 'baseline' / 'demo_edsr_x4.yml')['network_g']
    with pytest.raises(ChannelConfigMismatchError, match='does not match|channel groups'):
        LWDNANet(channel_config=config, base=edsr)
    with pytest.raises(ChannelConfigMismatchError, match='does not exist'):
        LWDNANet(channel_config='no/such/lwdna_channels.json')


def test_a_diverged_search_is_repeated_at_a_lower_rate(sr_batches):
    """SGD at lr 0.1 on an L1 super-resolution loss blows the generated weights up (0.3.0
    returned that network; 0.6 refused it): the search is repeated on the same batches at a
    tenfold lower rate, and says so. The same SGD as the caller's own optimizer is an error."""
    from lwdna_plugin import LWDNAConfig, shrink
    from lwdna_plugin.core.errors import SearchDivergedError
    from basicsr.archs.edsr_arch import EDSR

    cfg = LWDNAConfig(width_mult=1.5, flops_target=0.8, embedding_dim=2)
    torch.manual_seed(0)
    result = shrink(EDSR(3, 3, num_feat=32, num_block=4, upscale=4), sr_batches, torch.nn.functional.l1_loss, cfg)
    config = result.channel_config
    assert config['protocol']['search_lr'] < 0.1
    assert any(w.startswith('the search diverged at search_lr 0.1') for w in config['warnings'])
    assert config['probe_relative_error'] < 1e-6
    torch.manual_seed(0)
    with pytest.raises(SearchDivergedError, match='the search diverged'):
        shrink(EDSR(3, 3, num_feat=32, num_block=4, upscale=4), sr_batches, torch.nn.functional.l1_loss, cfg,
               make_optimizer=lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9))
