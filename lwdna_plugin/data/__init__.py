"""Data the plugin ships or builds itself (no downloads)."""
from .digits import DigitsDataset, digits_loaders, digits_split

__all__ = ['DigitsDataset', 'digits_loaders', 'digits_split']
