"""dae-theory: memorization vs generalization in two-layer ReLU denoising autoencoders (pure JAX).

Modules: ``data`` (separable sets, Definition 3.1), ``model`` (Eq. 5), ``loss`` (Eq. 6, Theorem D.2,
the explicit cross-talk bound), ``constructions`` (Theorem 3.1, Cor. 3.2–3.4, Lemma D.1), ``metrics``
(spiky vs balanced codes, weights modulo symmetry), ``masks`` and ``bounds`` (margins, certificates),
``plug`` (the model plug: the one description of a model that training, sweeps and probes read),
``train`` (the one training step and loop, optax), ``sweep`` (grids of any plug as compiled programs:
plan, engine, store, devices), ``analysis`` (a DAE sweep against the closed forms), ``io`` (run
records), ``images`` (bundled digits and photo patches, image folders), ``diffusion``
(time-conditioned DAE and its plug, VE sampler), ``detection`` (memorization scores for any
representation, ROC evaluation, baselines), ``copies`` (scale-aware copy labels, the one
nearest-neighbour search), ``steering`` (Eq. 11 for any encoder/decoder, smoothness metrics),
``reference`` (reference denoisers, Gaussian flow), ``lenses`` (Gaussian, agreement and Jacobian
lenses), ``checks`` (input validation). The formulas are in docs/theory.md.
"""

from dae_theory import (  # noqa: F401
    analysis, bounds, checks, constructions, copies, data, detection, diffusion, images, io, lenses,
    loss, masks, metrics, model, plug, reference, steering, sweep, train)

__version__ = "0.1.0"
