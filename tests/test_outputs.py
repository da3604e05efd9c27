"""Results reach a work dir all together or not at all: refusing to overwrite, failures and
Ctrl-C while saving, and files the plugin did not create."""
from __future__ import annotations

import json
import os
import signal

import pytest
import timm
import torch.nn.functional as F

from lwdna_plugin import LWDNAConfig, OutputError, shrink
from lwdna_plugin.core.outputs import write_outputs


@pytest.fixture(scope='module')
def result(digit_batches):
    return shrink(timm.create_model('resnet10t', num_classes=10), digit_batches, F.cross_entropy,
                  LWDNAConfig(flops_target=0.9, embedding_dim=2))


def _files(folder):
    return {p: open(os.path.join(folder, p), 'rb').read() for p in sorted(os.listdir(folder))}


def test_save_writes_all_and_refuses_to_overwrite(result, tmp_path):
    out = tmp_path / 'run' / 'deeper'
    paths = result.save(out)
    assert sorted(os.listdir(out)) == ['lwdna_channels.json', 'lwdna_channels.png', 'lwdna_report.md']
    assert json.loads(open(paths['channel_config']).read()) == result.channel_config
    before = _files(out)
    with pytest.raises(OutputError, match='already holds'):
        result.save(out)
    assert _files(out) == before
    result.save(out, overwrite=True)
    assert sorted(os.listdir(out)) == sorted(before)


def test_ctrl_c_while_saving_leaves_the_work_dir_as_it_was(result, tmp_path):
    """A real SIGINT delivered while the second file is being written."""
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'lwdna_report.md').write_text('an earlier report')
    writers = result.output_writers()

    def interrupted(path):
        writers['lwdna_channels.png'](path)
        os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        write_outputs(work, {**writers, 'lwdna_channels.png': interrupted}, overwrite=True)
    assert _files(work) == {'lwdna_report.md': b'an earlier report'}   # no staging folder, nothing replaced


def test_a_failing_writer_removes_what_it_created(result, tmp_path):
    def full_disk(path):
        raise OSError(28, 'No space left on device')

    target = tmp_path / 'new' / 'work'
    with pytest.raises(OutputError, match='No space left on device'):
        write_outputs(target, {**result.output_writers(), 'lwdna_channels.json': full_disk})
    assert os.listdir(tmp_path) == []   # the folders this call created are gone again
