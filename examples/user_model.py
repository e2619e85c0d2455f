r"""A model of your own through the lab's engine: define a plug, train it, sweep it, probe it.

The model here is a two-layer DAE with a bias per unit and a learned output scale,
f(y) = s · W relu(Wᵀy + b), which the lab does not ship. Ten lines make it a
:class:`dae_theory.plug.ModelPlug`; from then on the single-config trainer, the compiled sweep engine
and the detection API take it like the lab's own models.

  python -m examples.user_model
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dae_theory import data, detection, model, plug, sweep, train


class BiasedDAE(NamedTuple):
  w: jax.Array  # (d, p): unit j is column j
  b: jax.Array  # (p,): one bias per unit
  s: jax.Array  # (): output scale


def init(key, d, width, p_max, dtype):
  """Unit j from fold_in(key, j) (model.unit_columns); units >= width are zero."""
  w = model.unit_columns(key, d, p_max, 1.0 / np.sqrt(d), dtype, width)
  return BiasedDAE(w, jnp.zeros((p_max,), dtype), jnp.ones((), dtype))


def represent(params, y):
  return jax.nn.relu(y @ params.w + params.b)


def denoise(params, y, sigma=None):
  return params.s * represent(params, y) @ params.w.T


def per_sample_loss(params, x, eps, sigma):
  return jnp.sum((denoise(params, x + sigma * eps) - x) ** 2, -1)


BIASED_DAE = plug.from_loss("biased-dae", init, per_sample_loss, represent, denoise)


def main():
  ds = data.gaussian_mixture(jax.random.key(0), 3, 40, 16, 2, 3.0, 0.3)[0]
  x = np.asarray(ds.x)
  # One model, the single-config trainer.
  res = train.fit(jax.random.key(1), BIASED_DAE, x, 12, plug.Hyper(0.2, 1e-4), 500, 1e-2,
                  batch_size=32)
  print(f"single run: final loss {float(res.losses[-1]):.4f}")
  # A grid of them, one compiled program per chunk.
  grid = sweep.Grid(seeds=(0, 1, 2), widths=(6, 12), sample_sizes=(30, 120))
  out = sweep.run_sweep(jax.random.key(1), x, grid.configs(), steps=500, batch_size=32,
                        plug=BIASED_DAE, log=None)
  print(f"sweep: {len(out.configs)} configs, final losses "
        f"{np.round(out.losses[:, -1], 3).tolist()}")
  # The detection API scores its representation like any other.
  rep, _ = BIASED_DAE.bind(res.params)
  scores = detection.code_scores(jax.random.key(2), rep, x[:10], 0.1)
  print("std(h) of the first 10 training points:", np.round(scores["std"], 3).tolist())


if __name__ == "__main__":
  main()
