# A small ViT for the 16x16 digits: 4x4 patches (16 tokens + the class token), embedding 64,
# 4 blocks of 4 heads (head_dim 16), MLP 128, mmpretrain's VisionTransformer and class-token head.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='VisionTransformer', arch=dict(embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=128),
                  img_size=16, patch_size=4, drop_rate=0.0, out_type='cls_token'),
    neck=None,
    head=dict(type='VisionTransformerClsHead', num_classes=10, in_channels=64,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, )))
