# Table 1, ImageNet RegNetX-4.0GF LW-DNA (paper: 3.8199 GFLOPs = 95.49 % of the baseline,
# 15.285 M params, 22.74 % top-1 error). Widen x2, score on 2 batches with embedding dimension 2
# (the authors' ImageNet command), keep 95.49 % of the baseline FLOPs, train from scratch with
# the baseline's protocol. The authors score on a quarter of their 256-image batch, i.e. 64
# images: one whole per-GPU batch here (batch_fraction=1.0; rank 0 scores).
_base_ = ['../baseline/regnetx_4.0gf_in1k.py']
runner_type = 'LWDNARunner'
# Search protocol: the authors' ImageNet RegNet file (model_dhp/regnet_imagenet_dhp.py): SGD
# steps on the scoring batches, |dL/dz| of the last batch.
model = dict(
    _delete_=True,
    type='LWDNAClassifier',
    architecture={{_base_.model}},
    lwdna=dict(width_mult=2.0, flops_target=0.9549, rho=0.4, tau=0.45, num_batches=2, embedding_dim=2,
              batch_fraction=1.0,
              criterion='gradient'))
work_dir = './work_dirs/regnetx_4.0gf_in1k_lwdna'
