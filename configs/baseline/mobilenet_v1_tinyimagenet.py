# Table 1, Tiny-ImageNet MobileNetV1 baseline (paper: 0.0478 GFLOPs, 3.412 M params,
# 51.87 % top-1 error).
_base_ = ['../_base_/models/mobilenet_v1_tinyimagenet.py', '../_base_/datasets/tinyimagenet_bs64.py',
          '../_base_/schedules/tinyimagenet_bs64_220e.py', '../_base_/default_runtime.py']
work_dir = './work_dirs/mobilenet_v1_tinyimagenet_baseline'
