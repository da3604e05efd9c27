# Table 1, CIFAR10 DenseNet40 baseline (paper: 0.2901 GFLOPs, 1.059 M params, 5.50 % top-1 error).
_base_ = ['../_base_/models/densenet40_cifar10.py', '../_base_/datasets/cifar10_bs64.py',
          '../_base_/schedules/cifar_bs64_300e.py', '../_base_/default_runtime.py']
work_dir = './work_dirs/densenet40_cifar10_baseline'
