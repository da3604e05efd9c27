# Table 1, Tiny-ImageNet MnasNet baseline (paper: 0.0271 GFLOPs, 3.359 M params,
# 51.79 % top-1 error).
_base_ = ['../_base_/models/mnasnet_tinyimagenet.py', '../_base_/datasets/tinyimagenet_bs64.py',
          '../_base_/schedules/tinyimagenet_bs64_220e.py', '../_base_/default_runtime.py']
work_dir = './work_dirs/mnasnet_tinyimagenet_baseline'
