# Table 1, Tiny-ImageNet MobileNetV3-small baseline (paper: 0.0207 GFLOPs, 2.083 M params,
# 47.55 % top-1 error).
_base_ = ['../_base_/models/mobilenet_v3_small_tinyimagenet.py',
          '../_base_/datasets/tinyimagenet_bs64.py', '../_base_/schedules/tinyimagenet_bs64_220e.py',
          '../_base_/default_runtime.py']
work_dir = './work_dirs/mobilenet_v3_small_tinyimagenet_baseline'
