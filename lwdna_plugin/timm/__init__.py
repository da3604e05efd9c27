"""timm adapter: shrink a timm model and rebuild an LW-DNA timm model from its channel config."""
from timm.layers import CecaModule, EcaModule

from ..core import register_channel_gate
from .models import create_lwdna_model, shrink_timm_model

for _gate in (EcaModule, CecaModule):   # x * sigmoid(conv1d over the channel axis): no width inside
    register_channel_gate(_gate)

__all__ = ['create_lwdna_model', 'shrink_timm_model']
