"""Training on crescent's own data: SFT or DPO (full or LoRA), GGUF export and merge, pruned students.

Submodules import torch/transformers; this package itself stays light so ``import crescent`` does too.
"""
