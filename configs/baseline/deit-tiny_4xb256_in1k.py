# mmpretrain's DeiT-Tiny on ImageNet as it ships (ViT-Ti/16 at 224², 3 heads of 64, MLP 768,
# AdamW, mixup / cutmix, label smoothing, batch 4x256), with the plugin imported.
_base_ = ['mmpretrain::deit/deit-tiny_4xb256_in1k.py']
custom_imports = dict(imports=['lwdna_plugin.mmpretrain'], allow_failed_imports=False)
work_dir = './work_dirs/deit-tiny_4xb256_in1k_baseline'
