# Table 1, CIFAR100 EfficientNet(-B0) baseline (paper: 0.4161 GFLOPs, 4.136 M params, 20.74 % top-1 error).
_base_ = ['../_base_/models/efficientnet_b0_cifar100.py', '../_base_/datasets/cifar100_bs64.py',
          '../_base_/schedules/cifar_bs64_300e.py', '../_base_/default_runtime.py']
work_dir = './work_dirs/efficientnet_b0_cifar100_baseline'
