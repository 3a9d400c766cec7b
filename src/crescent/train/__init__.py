"""Training on crescent's own data: SFT (full or LoRA), GGUF export, pruned students.

Submodules import torch/transformers; this package itself stays light so ``import crescent`` does too.
"""
