# Table 1, Tiny-ImageNet MobileNetV2 baseline (paper: 0.0930 GFLOPs, 2.480 M params,
# 44.38 % top-1 error).
_base_ = ['../_base_/models/mobilenet_v2_tinyimagenet.py', '../_base_/datasets/tinyimagenet_bs64.py',
          '../_base_/schedules/tinyimagenet_bs64_220e.py', '../_base_/default_runtime.py']
work_dir = './work_dirs/mobilenet_v2_tinyimagenet_baseline'
