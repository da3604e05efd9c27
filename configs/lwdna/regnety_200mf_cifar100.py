# Table 1, CIFAR100 RegNetY-200MF LW-DNA (paper: 0.2095 GFLOPs = 92.74 % of the baseline,
# 1.524 M params, 19.87 % top-1 error with KD). Widen x2, score on 2 batches, keep 92.74 %
# of the baseline FLOPs, train from scratch with the baseline's protocol.
_base_ = ['../baseline/regnety_200mf_cifar100.py']
runner_type = 'LWDNARunner'
# Search protocol: the authors' CIFAR RegNet file (model_dhp/regnet_dhp.py): SGD steps on
# the scoring batches, |dL/dz| of the last batch, one latent element per 4 channels of the stem
# and stage widths (their `width // 4` latents).
model = dict(
    _delete_=True,
    type='LWDNAClassifier',
    architecture={{_base_.model}},
    lwdna=dict(width_mult=2.0, flops_target=0.9274, rho=0.4, tau=0.45, num_batches=2, embedding_dim=8,
              criterion='gradient', channels_per_latent=4))
work_dir = './work_dirs/regnety_200mf_cifar100_lwdna'
