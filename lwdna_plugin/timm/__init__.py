"""timm adapter: shrink a timm model and rebuild an LW-DNA timm model from its channel config."""
from .gates import register_timm_gates
from .models import create_lwdna_model, shrink_timm_model

register_timm_gates()

__all__ = ['create_lwdna_model', 'shrink_timm_model']
