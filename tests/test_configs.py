"""Every config under configs/ loads and builds; baselines match Table 1; LW-DNA configs carry
the paper's FLOPs ratio."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from mmengine.config import Config

import lwdna_plugin.mmpretrain  # noqa: F401  (registers the plugin)
from lwdna_plugin import count_flops_params
from lwdna_plugin.mmpretrain.model import tensor_forward
from benchmarks.paper_tables import TABLE1

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(p for p in (ROOT / 'configs').rglob('*.py') if '_base_' not in p.parts)

def build_model_cfg(cfg):
    """The classifier a config trains (for KD configs: the student; for LW-DNA: its baseline)."""
    from mmpretrain.registry import MODELS

    model = cfg.model
    if model['type'] == 'KDClassifier':
        assert Path(ROOT / model['teacher']['config']).is_file()
        model = model['student']
    if model['type'] == 'LWDNAClassifier':
        model = model['architecture']
    return MODELS.build(model)


@pytest.mark.parametrize('path', CONFIGS, ids=[str(p.relative_to(ROOT / 'configs')) for p in CONFIGS])
def test_config_builds(path):
    from mmpretrain.registry import DATASETS

    cfg = Config.fromfile(path)
    assert cfg.work_dir.startswith('./work_dirs/') and cfg.custom_imports.imports == ['lwdna_plugin.mmpretrain']
    assert DATASETS.get(cfg.train_dataloader.dataset.type) is not None
    model = build_model_cfg(cfg)
    assert hasattr(model, 'head')
    if cfg.model['type'] == 'LWDNAClassifier' or cfg.model.get('student', {}).get('type') == 'LWDNAClassifier':
        assert cfg.runner_type == 'LWDNARunner'


@pytest.mark.parametrize('row', sorted(TABLE1))
def test_baseline_matches_table1(row):
    """Baseline FLOPs (the paper's convention, see lwdna_plugin/core/flops.py) and params at the
    dataset's input size within 1 % of Table 1; the LW-DNA config targets the paper's ratio."""
    paper = TABLE1[row]
    model = build_model_cfg(Config.fromfile(ROOT / 'configs' / 'baseline' / f'{row}.py'))
    flops, params = count_flops_params(model, input_shape=(1, 3, paper.input_size, paper.input_size),
                                       forward_fn=tensor_forward)
    assert abs(params / 1e6 / paper.mparams - 1) <= 0.01, params
    assert abs(flops / 1e9 / paper.gflops - 1) <= 0.01, flops
    lwdna = Config.fromfile(ROOT / 'configs' / 'lwdna' / f'{row}.py')
    assert lwdna.model.lwdna.flops_target == pytest.approx(paper.lwdna_gflops / paper.gflops, abs=1e-4)


def test_search_protocol_follows_the_authors_code():
    """ImageNet ResNet50 thresholds latent magnitudes after the steps (resnet_imagenet_dhp.py);
    RegNets and the CIFAR ResNet use the last batch's gradient; every LW-DNA config says which."""
    def criterion(path):
        model = Config.fromfile(path).model
        return (model.get('student') or model)['lwdna']['criterion']

    lwdna = sorted((ROOT / 'configs' / 'lwdna').glob('*.py'))
    assert {p.stem: criterion(p) for p in lwdna if 'regnet' in p.stem or 'resnet' in p.stem} == {
        p.stem: 'magnitude' if p.stem.startswith('resnet50_in1k') else 'gradient'
        for p in lwdna if 'regnet' in p.stem or 'resnet' in p.stem}
    assert all(criterion(p) in ('gradient', 'magnitude') for p in lwdna)
    for path in lwdna:
        assert 'Search protocol:' in path.read_text() or '_kd' in path.stem or 'demo' in path.stem, path


def test_import_loads_no_zoo_and_help_needs_no_torch():
    """``import lwdna_plugin`` imports neither torch nor a zoo; every command's ``--help``
    answers before torch is imported."""
    code = ("import sys; import lwdna_plugin; assert not {'torch', 'mmcv', 'mmpretrain', 'timm'} & set(sys.modules)\n"
            "import importlib, contextlib, io\n"
            "for name in ['shrink', 'train_basicsr', 'test_basicsr', 'dist_train', 'export_dimp',\n"
            "             'make_restoration_demo_data']:\n"
            "    main = importlib.import_module('lwdna_plugin.cli.' + name).main\n"
            "    out = io.StringIO()\n"
            "    with contextlib.redirect_stdout(out):\n"
            "        try: main(['--help'])\n"
            "        except SystemExit as e: assert e.code == 0, name\n"
            "    assert 'usage:' in out.getvalue() and 'torch' not in sys.modules, name\n"
            "print('ok')")
    proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == 'ok', proc.stderr


def test_console_scripts_point_at_commands():
    import importlib
    tomllib = pytest.importorskip('tomllib')   # Python 3.11+

    scripts = tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']['scripts']
    assert set(scripts) >= {'lwdna-shrink', 'lwdna-train', 'lwdna-test', 'lwdna-dist-train', 'lwdna-train-basicsr',
                            'lwdna-test-basicsr', 'lwdna-export-dimp', 'lwdna-make-restoration-demo-data'}
    for target in scripts.values():
        module, function = target.split(':')
        assert callable(getattr(importlib.import_module(module), function)), target


def test_packaged_configs_cover_the_config_folder():
    """Every file under configs/ is a .py or .yml the wheel's package data takes, and the package's
    config folder holds exactly those files (a link in a clone, copies in an sdist or wheel)."""
    tomllib = pytest.importorskip('tomllib')   # Python 3.11+

    from lwdna_plugin.configs import CONFIG_ROOT, resolve_config

    patterns = tomllib.loads((ROOT / 'pyproject.toml').read_text())['tool']['setuptools']['package-data']['lwdna_plugin']
    assert '.mim/configs/**/*.py' in patterns and '.mim/configs/**/*.yml' in patterns
    files = [p for p in (ROOT / 'configs').rglob('*') if p.is_file()]
    assert files and all(p.suffix in ('.py', '.yml') for p in files)
    packaged = {p.relative_to(CONFIG_ROOT): p.read_bytes() for p in CONFIG_ROOT.rglob('*') if p.is_file()}
    assert packaged == {p.relative_to(ROOT / 'configs'): p.read_bytes() for p in files}   # a link, or copies (sdist)
    assert resolve_config('lwdna_plugin::lwdna/demo_digits.py') == str(CONFIG_ROOT / 'lwdna' / 'demo_digits.py')
    assert resolve_config('configs/lwdna/demo_digits.py') == 'configs/lwdna/demo_digits.py'


def test_a_user_config_inherits_lwdna_plugin_configs(tmp_path):
    """``_base_ = ['lwdna_plugin::...']`` resolves once the adapter is imported, and its objects
    build in the ``lwdna_plugin`` scope (child registries of mmpretrain's)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import lwdna_plugin.mmpretrain  # noqa: F401
    from lwdna_plugin.registry import MODELS

    user = tmp_path / 'my_demo.py'
    user.write_text("_base_ = ['lwdna_plugin::lwdna/demo_digits.py']\ntrain_cfg = dict(max_epochs=3)\n")
    cfg = Config.fromfile(str(user))
    assert cfg.model.type == 'LWDNAClassifier' and cfg.model._scope_ == 'lwdna_plugin'
    assert cfg.train_cfg.max_epochs == 3 and cfg.train_dataloader.dataset.type == 'DigitsClassification'
    init_default_scope('mmpretrain')
    assert MODELS.scope == 'lwdna_plugin' and MODELS.get('ImageClassifier') is not None
    assert MODELS.get('LWDNAClassifier') is not None


def test_basicsr_commands_take_installed_option_files():
    from lwdna_plugin.cli import train_basicsr
    from lwdna_plugin.cli.basicsr_options import parse_basicsr_command_line

    argv = parse_basicsr_command_line(train_basicsr.__doc__, ['-opt', 'lwdna_plugin::basicsr/lwdna/demo_edsr_x4.yml', '--debug'])
    assert argv[0] == '-opt' and argv[1].endswith('basicsr/lwdna/demo_edsr_x4.yml') and argv[2] == '--debug'
    assert Path(argv[1]).is_file()


def test_a_config_importing_lwdna_plugin_as_in_0_2_0_finds_the_runner(tmp_path):
    """``custom_imports = dict(imports=['lwdna_plugin'])`` (the 0.2.0 README): mmpretrain's stock
    ``tools/train.py`` loads the config before it imports mmpretrain, then looks the runner up."""
    cfg = tmp_path / 'old.py'
    cfg.write_text(f"_base_ = [{str(ROOT / 'configs' / 'lwdna' / 'demo_digits.py')!r}]\n"
                   "custom_imports = dict(imports=['lwdna_plugin'], allow_failed_imports=False)\n")
    code = ('import sys\n'
            'from mmengine.config import Config\n'
            'from mmengine.registry import RUNNERS, DefaultScope\n'
            f'cfg = Config.fromfile({str(cfg)!r})\n'
            'with DefaultScope.overwrite_default_scope(cfg.default_scope):\n'
            '    print(RUNNERS.get(cfg.runner_type))\n')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert 'LWDNARunner' in proc.stdout, proc.stderr[-2000:]
