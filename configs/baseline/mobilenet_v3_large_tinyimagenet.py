# Table 1, Tiny-ImageNet MobileNetV3-large baseline (paper: 0.0860 GFLOPs, 4.121 M params,
# 45.53 % top-1 error).
_base_ = ['../_base_/models/mobilenet_v3_large_tinyimagenet.py',
          '../_base_/datasets/tinyimagenet_bs64.py', '../_base_/schedules/tinyimagenet_bs64_220e.py',
          '../_base_/default_runtime.py']
work_dir = './work_dirs/mobilenet_v3_large_tinyimagenet_baseline'
