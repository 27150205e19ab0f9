r"""Rewards for the two GRPO stages, as plain callables in TRL's reward-function contract:
``reward(prompts, completions, **columns) -> list[float]``, where ``columns`` are the dataset's
other columns (``candidates``, ``label``, ``template_chars``, ...), one value per completion.

Stage 1 (paper eqs. 4, 6): :math:`r = \alpha\, r^{acc} + (1-\alpha)\, r^{len}` -- pass
``[AccuracyReward, LengthReward]`` with ``reward_weights=[alpha, 1-alpha]`` so TRL logs each
sub-reward on its own; ``CompressionRatio`` (weight 0) only logs the ratio.
Stage 2 (paper eq. 7): ``ReasonerReward``, +1 for the target, -1 otherwise.
"""

from .stage1 import (AccuracyReward, CompressionRatio, FaithfulnessReward, Gated, LengthReward, ProbabilityReward,
                     RankingReward, plateau, title_coverage)
from .stage2 import ReasonerReward

#: Stage 1's main reward by name (``Stage1Config.reward``): ``build(oracle, cfg, postprocess)``.
#: A new Stage 1 reward is one entry here.
STAGE1_REWARDS = {
    "accuracy": lambda oracle, cfg, postprocess: AccuracyReward(oracle, postprocess),
    "ranking": lambda oracle, cfg, postprocess: RankingReward(oracle, cfg.ranking_metric, postprocess),
    "probability": lambda oracle, cfg, postprocess: ProbabilityReward(oracle, postprocess),
}

__all__ = ["STAGE1_REWARDS", "AccuracyReward", "CompressionRatio", "FaithfulnessReward", "Gated", "LengthReward",
           "ProbabilityReward", "RankingReward", "ReasonerReward", "plateau", "title_coverage"]
