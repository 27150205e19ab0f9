"""Training: the warm start of small from-scratch models, then the paper's two GRPO stages."""
