# Table 1, CIFAR100 DenseNet40 baseline (paper: 0.2901 GFLOPs, 1.100 M params, 26.00 % top-1 error).
_base_ = ['../_base_/models/densenet40_cifar100.py', '../_base_/datasets/cifar100_bs64.py',
          '../_base_/schedules/cifar_bs64_300e.py', '../_base_/default_runtime.py']
work_dir = './work_dirs/densenet40_cifar100_baseline'
