# Table 1, ImageNet ResNet50 LW-DNA (paper: 3.7307 GFLOPs = 90.60 % of the baseline,
# 23.741 M params, 23.00 % top-1 error). Widen x2, score on 2 batches with embedding dimension 2
# (the authors' ImageNet command), keep 90.60 % of the baseline FLOPs, train from scratch with
# the baseline's protocol. The authors score on a quarter of their 256-image batch, i.e. 64
# images: one whole per-GPU batch here (batch_fraction=1.0; rank 0 scores).
_base_ = ['../baseline/resnet50_in1k.py']
runner_type = 'LWDNARunner'
# Search protocol: the authors' ImageNet ResNet file (model_dhp/resnet_imagenet_dhp.py) keeps
# channels by the magnitude of the latent vectors after the SGD steps of the scoring batches.
model = dict(
    _delete_=True,
    type='LWDNAClassifier',
    architecture={{_base_.model}},
    lwdna=dict(width_mult=2.0, flops_target=0.906, rho=0.4, tau=0.45, num_batches=2, embedding_dim=2,
              batch_fraction=1.0,
              criterion='magnitude'))
work_dir = './work_dirs/resnet50_in1k_lwdna'
