# Table 1, ImageNet ResNet50 baseline (paper: 4.1177 GFLOPs, 25.557 M params, 23.28 % top-1 error).
_base_ = ['../_base_/models/resnet50_in1k.py', '../_base_/datasets/imagenet_bs64.py',
          '../_base_/schedules/imagenet_bs256_150e_coslr.py', '../_base_/default_runtime.py']
work_dir = './work_dirs/resnet50_in1k_baseline'
