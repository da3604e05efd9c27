# LW-DNA version of mmpretrain's own stock config, inherited through mmengine's package scope
# (`mmpretrain::`): the model, data, schedule and runtime are mmpretrain's; only the model is
# wrapped. Widen x2, score on 2 training batches, keep 90 % of the baseline FLOPs, train from
# scratch with the stock schedule. Data: data/cifar10/cifar-10-batches-py (mmpretrain's CIFAR10).
_base_ = ['mmpretrain::resnet/resnet18_8xb16_cifar10.py']
custom_imports = dict(imports=['lwdna_plugin.mmpretrain'], allow_failed_imports=False)
runner_type = 'LWDNARunner'
# Search protocol: the authors' search code for this network is not public: the paper's
# gradient criterion with their step protocol (SGD steps, |dL/dz| of the last batch).
model = dict(
    _delete_=True,
    type='LWDNAClassifier',
    architecture={{_base_.model}},
    lwdna=dict(width_mult=2.0, flops_target=0.9, rho=0.4, tau=0.45, num_batches=2, embedding_dim=8,
              criterion='gradient'))
work_dir = './work_dirs/resnet18_8xb16_cifar10_lwdna'
