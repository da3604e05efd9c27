# Baseline twin of configs/lwdna/vit_digits.py: a small ViT on the embedded digits.
_base_ = ['../_base_/models/vit_tiny_digits.py', '../_base_/datasets/digits_bs64.py',
          '../_base_/schedules/digits_vit_bs64.py', '../_base_/default_runtime.py']
work_dir = './work_dirs/vit_digits_baseline'
