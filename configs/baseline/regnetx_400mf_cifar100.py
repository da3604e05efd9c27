# Table 1, CIFAR100 RegNetX-400MF baseline (paper: 0.4698 GFLOPs, 4.810 M params, 21.75 % top-1 error).
_base_ = ['../_base_/models/regnetx_400mf_cifar100.py', '../_base_/datasets/cifar100_bs64.py',
          '../_base_/schedules/cifar_bs64_300e.py', '../_base_/default_runtime.py']
work_dir = './work_dirs/regnetx_400mf_cifar100_baseline'
