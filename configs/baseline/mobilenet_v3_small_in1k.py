# Table 1, ImageNet MobileNetV3-small baseline (paper: 0.0612 GFLOPs, 3.108 M params,
# 34.91 % top-1 error).
_base_ = ['../_base_/models/mobilenet_v3_small_in1k.py', '../_base_/datasets/imagenet_bs64.py',
          '../_base_/schedules/imagenet_bs256_150e_coslr.py', '../_base_/default_runtime.py']
work_dir = './work_dirs/mobilenet_v3_small_in1k_baseline'
