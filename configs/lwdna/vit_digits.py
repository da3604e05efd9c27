# LW-DNA version of configs/baseline/vit_digits.py: widen heads, MLP widths and the embedding
# x2, score on 2 training batches, keep 90 % of the baseline FLOPs, train from scratch with the
# unchanged protocol. Every block gets its own head count and MLP width; with
# keep_normalized_widths=True the embedding width stays 64 and the search is exact.
# Search protocol: the paper's gradient criterion with the authors' step protocol (SGD steps,
# |dL/dz| of the last batch); the authors' code has no transformer.
_base_ = ['../baseline/vit_digits.py']
runner_type = 'LWDNARunner'
model = dict(
    _delete_=True,
    type='LWDNAClassifier',
    architecture={{_base_.model}},
    lwdna=dict(width_mult=2.0, flops_target=0.9, rho=0.4, tau=0.45, num_batches=2, embedding_dim=8,
               criterion='gradient'))
work_dir = './work_dirs/vit_digits_lwdna'
