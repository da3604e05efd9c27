# LW-DNA version of mmpretrain's DeiT-Tiny: widen heads, MLP widths and the embedding x2, score
# on 2 training batches, keep 90 % of the baseline FLOPs, train from scratch with DeiT's unchanged
# recipe. Each block gets its own head count (head_dim stays 64) and MLP width; the embedding
# width (one group: patch embedding, tokens, every LayerNorm and residual) is searched too —
# keep_normalized_widths=True keeps it at 192 and makes the search exact.
# Search protocol: the paper's gradient criterion with the authors' step protocol (SGD steps,
# |dL/dz| of the last batch); the authors' code has no transformer.
_base_ = ['../baseline/deit-tiny_4xb256_in1k.py']
runner_type = 'LWDNARunner'
model = dict(
    _delete_=True,
    type='LWDNAClassifier',
    architecture={{_base_.model}},
    lwdna=dict(width_mult=2.0, flops_target=0.9, rho=0.4, tau=0.45, num_batches=2, embedding_dim=8,
               criterion='gradient'))
work_dir = './work_dirs/deit-tiny_4xb256_in1k_lwdna'
