# Table 1, ImageNet RegNetX-4.0GF baseline (paper: 4.0005 GFLOPs, 22.118 M params,
# 23.05 % top-1 error).
_base_ = ['../_base_/models/regnetx_4.0gf_in1k.py', '../_base_/datasets/imagenet_bs64.py',
          '../_base_/schedules/imagenet_bs256_150e_coslr.py', '../_base_/default_runtime.py']
work_dir = './work_dirs/regnetx_4.0gf_in1k_baseline'
