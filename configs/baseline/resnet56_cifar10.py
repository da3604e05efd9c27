# Table 1, CIFAR10 ResNet56 baseline (paper: 0.1274 GFLOPs, 0.856 M params, 5.74 % top-1 error).
_base_ = ['../_base_/models/resnet56_cifar10.py', '../_base_/datasets/cifar10_bs64.py',
          '../_base_/schedules/cifar_bs64_300e.py', '../_base_/default_runtime.py']
work_dir = './work_dirs/resnet56_cifar10_baseline'
