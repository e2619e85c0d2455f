"""dae-theory: memorization vs generalization in two-layer ReLU denoising autoencoders (pure JAX).

Modules: ``data`` (separable sets, Definition 3.1), ``model`` (Eq. 5), ``loss`` (Eq. 6, Theorem D.2,
the explicit cross-talk bound), ``constructions`` (Theorem 3.1, Cor. 3.2–3.4, Lemma D.1), ``metrics``
(spiky vs balanced codes, weights modulo symmetry), ``train`` (optax, lax.scan).
"""

from dae_theory import bounds, constructions, data, loss, masks, metrics, model, train  # noqa: F401

__version__ = "0.1.0"
