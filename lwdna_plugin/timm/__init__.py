"""timm adapter: shrink a timm model and rebuild an LW-DNA timm model from its channel config."""
from .models import create_lwdna_model, shrink_timm_model

__all__ = ['create_lwdna_model', 'shrink_timm_model']
