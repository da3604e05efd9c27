# Table 1, CIFAR100 RegNetY-200MF baseline (paper: 0.2259 GFLOPs, 2.831 M params, 21.94 % top-1 error).
_base_ = ['../_base_/models/regnety_200mf_cifar100.py', '../_base_/datasets/cifar100_bs64.py',
          '../_base_/schedules/cifar_bs64_300e.py', '../_base_/default_runtime.py']
work_dir = './work_dirs/regnety_200mf_cifar100_baseline'
