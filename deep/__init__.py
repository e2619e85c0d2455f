"""Deep denoisers in flax NNX (issue 17): a bias-free U-Net model plug (:mod:`deep.unet`) and orbax
checkpoints of trained weights (:mod:`deep.checkpoint`). The theory core (:mod:`dae_theory`) never
imports this package; flax and orbax live here only."""
