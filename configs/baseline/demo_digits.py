# Baseline twin of configs/lwdna/demo_digits.py.
_base_ = ['../_base_/models/resnet18_cifar_w16_digits.py', '../_base_/datasets/digits_bs64.py',
          '../_base_/schedules/digits_bs64.py', '../_base_/default_runtime.py']
work_dir = './work_dirs/demo_digits_baseline'
