"""dae-theory: memorization vs generalization in two-layer ReLU denoising autoencoders (pure JAX).

Modules: ``data`` (separable sets, Definition 3.1), ``model`` (Eq. 5), ``loss`` (Eq. 6, Theorem D.2,
the explicit cross-talk bound), ``constructions`` (Theorem 3.1, Cor. 3.2–3.4, Lemma D.1), ``metrics``
(spiky vs balanced codes, weights modulo symmetry), ``masks`` and ``bounds`` (margins, certificates),
``train`` (optax, lax.scan), ``sweep`` (grids as one program), ``io`` (run records), ``images``
(bundled digits and photo patches, image folders), ``diffusion`` (time-conditioned DAE, VE sampler),
``detection`` (memorization scores for any representation, ROC evaluation, baselines), ``steering``
(Eq. 11 for any encoder/decoder, smoothness metrics), ``reference`` (reference denoisers, Gaussian
flow), ``lenses`` (Gaussian, agreement and Jacobian lenses).
"""

from dae_theory import (  # noqa: F401
    bounds, constructions, data, detection, diffusion, images, io, lenses, loss, masks, metrics, model,
    reference, steering, sweep, train)

__version__ = "0.1.0"
