# Table 1, CIFAR100 RegNetX-400MF LW-DNA (paper: 0.4610 GFLOPs = 98.13 % of the baseline,
# 4.404 M params, 18.81 % top-1 error with KD). Widen x2, score on 2 batches, keep 98.13 %
# of the baseline FLOPs, train from scratch with the baseline's protocol.
_base_ = ['../baseline/regnetx_400mf_cifar100.py']
runner_type = 'LWDNARunner'
# Search protocol: the authors' CIFAR RegNet file (model_dhp/regnet_dhp.py): SGD steps on
# the scoring batches, |dL/dz| of the last batch, one latent element per 4 channels of the stem
# and stage widths (their `width // 4` latents). Their mask() never prunes a latent whose length
# equals the group width (16): meant for the within-group latents, at width x2 it also keeps the
# stem and stage 1 (64 channels / 4, one channel group here) whole; unpruned_layers does the same.
model = dict(
    _delete_=True,
    type='LWDNAClassifier',
    architecture={{_base_.model}},
    lwdna=dict(width_mult=2.0, flops_target=0.9813, rho=0.4, tau=0.45, num_batches=2, embedding_dim=8,
              criterion='gradient', channels_per_latent=4,
              unpruned_layers=['backbone.conv1']))
work_dir = './work_dirs/regnetx_400mf_cifar100_lwdna'
