# Table 1, CIFAR100 RegNetX-200MF baseline (paper: 0.2255 GFLOPs, 2.353 M params, 23.62 % top-1 error).
_base_ = ['../_base_/models/regnetx_200mf_cifar100.py', '../_base_/datasets/cifar100_bs64.py',
          '../_base_/schedules/cifar_bs64_300e.py', '../_base_/default_runtime.py']
work_dir = './work_dirs/regnetx_200mf_cifar100_baseline'
