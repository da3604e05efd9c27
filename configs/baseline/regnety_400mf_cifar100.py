# Table 1, CIFAR100 RegNetY-400MF baseline (paper: 0.4585 GFLOPs, 3.947 M params, 21.65 % top-1 error).
_base_ = ['../_base_/models/regnety_400mf_cifar100.py', '../_base_/datasets/cifar100_bs64.py',
          '../_base_/schedules/cifar_bs64_300e.py', '../_base_/default_runtime.py']
work_dir = './work_dirs/regnety_400mf_cifar100_baseline'
