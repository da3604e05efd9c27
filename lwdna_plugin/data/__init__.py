"""Data the plugin ships or builds itself (no downloads)."""
from .digits import DigitsDataset, digits_loaders

__all__ = ['DigitsDataset', 'digits_loaders']
