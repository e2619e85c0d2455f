r"""The sweep engine: a grid of configs of any model plug, trained as compiled programs.

Six rooms, one job each:

* :mod:`~dae_theory.sweep.plan` — the grid, its configs, their chunks and the cost estimate (NumPy
  only);
* :mod:`~dae_theory.sweep.engine` — the compiled chunk program (any
  :class:`~dae_theory.plug.ModelPlug`), :func:`run_sweep` and the single-config reference
  :func:`train_config`;
* :mod:`~dae_theory.sweep.store` — fingerprints, chunk files and the progress log (resume);
* :mod:`~dae_theory.sweep.devices` — the mesh over this process's devices, the CPU device split and
  the backend options;
* :mod:`~dae_theory.sweep.distributed` — many processes and hosts (``jax.distributed``): the chunks
  divided among them, the shared workdir, the checks;
* :mod:`~dae_theory.sweep.cache` — JAX's persistent compilation cache (``devices`` and ``cache`` are
  the only places that touch ``jax.config``).

Evaluation against the closed forms lives above the engine, in :mod:`dae_theory.analysis`.
"""

from dae_theory.sweep.devices import cpu_cores, split_cpu
from dae_theory.sweep.engine import (SweepResult, config_params, param_entries, run_sweep,
                                     train_config)
from dae_theory.sweep.plan import (Configs, Estimate, Grid, check_fits, default_max_bytes, estimate,
                                   format_bytes, format_seconds, plan_chunks,
                                   useful_flops_per_step)

__all__ = ["Configs", "Estimate", "Grid", "SweepResult", "check_fits", "config_params", "cpu_cores",
           "default_max_bytes", "estimate", "format_bytes", "format_seconds", "param_entries",
           "plan_chunks", "run_sweep", "split_cpu", "train_config", "useful_flops_per_step"]
