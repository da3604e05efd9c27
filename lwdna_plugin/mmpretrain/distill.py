"""Knowledge distillation as in the paper's "KD" rows: a trained baseline teaches the student
(a baseline or an LW-DNA network) with loss = α·KD(T) + (1 − α)·CE, α = 0.4, T = 4."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.runner.checkpoint import load_checkpoint
from mmpretrain.registry import MODELS

from ..core import ConfigError
from .checkpoint import mmengine_checkpoint_loading
from .model import ATTR


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Hinton's distillation loss: T² · KL(softmax(t/T) ‖ softmax(s/T)), batch mean."""
    log_p = F.log_softmax(student_logits / temperature, dim=1)
    log_q = F.log_softmax(teacher_logits / temperature, dim=1)
    return F.kl_div(log_p, log_q, reduction='batchmean', log_target=True) * temperature ** 2


@MODELS.register_module()
class KDClassifier(BaseModel):
    """A student classifier trained with a frozen teacher.

    ``student``: any classifier config (e.g. ``ImageClassifier`` or ``LWDNAClassifier``).
    ``teacher``: ``dict(config=PATH, checkpoint=PATH)``, a trained baseline. Predict / tensor
    modes and the data preprocessor are the student's; the teacher is never trained.
    """

    def __init__(self, student: Dict[str, Any], teacher: Dict[str, Any], alpha: float = 0.4,
                 temperature: float = 4.0, data_preprocessor: Any = None, init_cfg: Any = None):
        if not 0 <= alpha <= 1 or temperature <= 0:
            raise ConfigError(f'KDClassifier needs 0 <= alpha <= 1 and temperature > 0, got {alpha}, {temperature}')
        student = dict(student)
        if data_preprocessor is not None:
            student.setdefault('data_preprocessor', data_preprocessor)
        built = MODELS.build(student)
        super().__init__(data_preprocessor=built.data_preprocessor, init_cfg=init_cfg)
        self.student = built
        self.teacher = build_teacher(teacher)
        self.alpha, self.temperature = alpha, temperature
        if hasattr(built, ATTR):
            setattr(self, ATTR, getattr(built, ATTR))

    def init_weights(self) -> None:
        self.student.init_weights()     # the teacher keeps its trained weights

    def train(self, mode: bool = True) -> 'KDClassifier':
        super().train(mode)
        self.teacher.eval()
        return self

    def forward(self, inputs: torch.Tensor, data_samples: Optional[List] = None, mode: str = 'tensor'):
        if mode != 'loss':
            return self.student(inputs, data_samples, mode=mode)
        logits = self.student(inputs, mode='tensor')
        with torch.no_grad():
            teacher_logits = self.teacher(inputs, mode='tensor')
        ce = self.student.head._get_loss(logits, data_samples)['loss']
        return {'loss_ce': (1 - self.alpha) * ce,
                'loss_kd': self.alpha * kd_loss(logits, teacher_logits, self.temperature)}


def build_teacher(teacher: Dict[str, Any]) -> nn.Module:
    """Build the teacher from its config file and load its checkpoint strictly; frozen."""
    if not isinstance(teacher, dict) or not {'config', 'checkpoint'} <= set(teacher):
        raise ConfigError("KDClassifier teacher must be dict(config='...py', checkpoint='...pth')")
    model = MODELS.build(Config.fromfile(teacher['config']).model)
    with mmengine_checkpoint_loading(teacher['checkpoint']):
        load_checkpoint(model, teacher['checkpoint'], map_location='cpu', strict=True, logger='current')
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
