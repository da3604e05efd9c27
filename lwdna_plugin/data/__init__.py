"""Data the plugin ships or builds itself (no downloads)."""
from .digits import DigitsDataset, digit_batches, digits_loaders, digits_split
from .photos import photo_crops, photo_denoise_batches, photo_sr_batches

__all__ = ['DigitsDataset', 'digit_batches', 'digits_loaders', 'digits_split', 'photo_crops',
           'photo_denoise_batches', 'photo_sr_batches']
