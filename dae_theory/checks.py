r"""Input validators shared by the theory core (data, constructions, loss, masks, bounds, metrics).

Every certified quantity of the lab (a bound, a margin, a certificate, a closed-form minimizer) is a
formula that returns a number for almost any input, including inputs outside its hypotheses, where the
number is meaningless (a bound of 0 at σ = 0, a negative loss when nλ > ‖x‖², NaN weights from NaN
data). These helpers refuse such inputs *before* any tracing, with a ``ValueError`` that names the
argument, the value received and the rule (STYLE: "Validate inputs in Python before tracing").

Conventions enforced here (the lab's, see :mod:`dae_theory.data`):

- ``x`` is ``(n, d)``, one **row** per sample, with n ≥ 1 and d ≥ 1, finite entries, and a float32 or
  float64 dtype. **Integer (and unsigned) x is cast explicitly** to the default float dtype (float32,
  or float64 under ``jax.enable_x64``): the cast is exact for |x| < 2²⁴, and without it the
  constructions would build integer (all-zero) weights. float16 / bfloat16 x is **refused** (3 and 2
  significant digits: eigenvalues, margins and the Hessian's zero modes would be round-off); bool and
  complex x are refused.
- ``labels`` are ``(n,)`` integers taking every value ``0 … M-1`` (contiguous cluster ids, each
  present). Floats, negatives and gaps such as {0, 2, 5} are refused (relabel with
  ``np.unique(labels, return_inverse=True)[1]``).
- ``unit_block`` is ``(p,)`` integers in ``-1 … M-1`` (``-1`` = the unit belongs to no cluster).
- σ and λ are finite; λ ≥ 0; σ ≥ 0, or σ > 0 where a formula divides by it.
- A width is an ``int`` (or NumPy integer), never a float or a bool.

Functions that are also used inside ``jit``/``vmap``/``grad`` skip the value checks for traced
arguments (:func:`is_traced`); the checks cost nothing on the compiled hot paths, which never call them.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np


def is_traced(*values: Any) -> bool:
  """Whether any of ``values`` is a JAX tracer (inside ``jit``, ``vmap``, ``grad``, ...)."""
  return any(isinstance(v, jax.core.Tracer) for v in values)


def _dtype_name(value) -> str:
  return type(value).__name__ if not hasattr(value, "dtype") else str(value.dtype)


def check_data(x, name: str = "x", *, d: int | None = None, weights: str = "the weights"):
  r"""Validate a data matrix ``(n, d)`` (rows are samples) and return it, integer input cast to float.

  Args:
    x: array-like ``(n, d)``.
    name: argument name used in messages.
    d: if given, the dimension the data must have (the number of rows of W₁); an ``x`` of shape
      ``(d, n)`` is then recognised as transposed.
    weights: what ``d`` comes from, for the message.

  Returns:
    ``x`` unchanged when it is a float32/float64 array (or a tracer, which is not checked), else the
    integer data cast to ``jnp.result_type(float)``.

  Raises:
    ValueError: ``x`` not 2-D, empty, of an unsupported dtype (float16, bfloat16, bool, complex,
      non-numeric), with a NaN or inf entry, or with a number of columns other than ``d``.
  """
  if is_traced(x):
    return x
  try:
    arr = np.asarray(x)
  except Exception as err:  # e.g. a ragged list
    raise ValueError(f"{name} must be a numeric array of shape (n, d), got {type(x).__name__} that "
                     f"NumPy cannot convert ({err}).") from None
  if arr.ndim != 2:
    hint = (f" (one sample? pass {name}[None], shape (1, {arr.shape[0]}))" if arr.ndim == 1 else "")
    raise ValueError(f"{name} must have shape (n, d) with one sample per row, got shape "
                     f"{tuple(arr.shape)}{hint}.")
  if arr.shape[0] == 0 or arr.shape[1] == 0:
    raise ValueError(f"{name} is empty: shape {tuple(arr.shape)}; need at least one sample (row) and "
                     "one dimension (column).")
  dt = arr.dtype
  cast = False
  if dt == np.bool_ or not (jnp.issubdtype(dt, jnp.integer) or jnp.issubdtype(dt, jnp.floating)):
    raise ValueError(f"{name} must hold real numbers (float32 or float64; integers are cast), got "
                     f"dtype {dt}.")
  if jnp.issubdtype(dt, jnp.integer):
    cast = True
  elif jnp.finfo(dt).bits < 32:
    raise ValueError(f"{name} has dtype {dt}: the theory core computes in float32 or float64 "
                     f"({dt} keeps about {jnp.finfo(dt).precision} significant digits, so eigenvalues, "
                     f"margins and certificates would be round-off). Pass {name}.astype(np.float32) "
                     "(exact) or float64.")
  if not cast:
    bad = ~np.isfinite(arr)
    if bad.any():
      i, j = np.argwhere(bad)[0]
      raise ValueError(f"{name} has {int(bad.sum())} non-finite entries (NaN or inf), the first at "
                       f"row {i}, column {j} ({arr[i, j]}); the data must be finite (every formula of "
                       "the theory would return NaN).")
  if d is not None and arr.shape[1] != d:
    if arr.shape[0] == d:
      raise ValueError(f"{name} has shape {tuple(arr.shape)} but the data dimension of {weights} is "
                       f"d = {d}: {name} looks transposed; pass one sample per row, shape (n, d) = "
                       f"({arr.shape[1]}, {d}).")
    raise ValueError(f"{name} has {arr.shape[1]} columns but the data dimension of {weights} is "
                     f"d = {d}; {name} must be (n, {d}).")
  if cast:
    return jnp.asarray(arr, jnp.result_type(float))
  return x


def real_finite(a, name: str) -> np.ndarray:
  """``a`` as a float64 NumPy array after checking that it holds real, finite numbers (a
  ``ValueError`` naming ``name`` and the count of bad entries otherwise); shape is the caller's."""
  a = np.asarray(a)
  if not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
    raise ValueError(f"{name} must be real numbers, got dtype {a.dtype}.")
  a = a.astype(np.float64)
  if not np.all(np.isfinite(a)):
    raise ValueError(f"{name} has {int(np.sum(~np.isfinite(a)))} non-finite entries (NaN or inf).")
  return a


def min_rows(x, name: str, k: int, why: str) -> None:
  """``ValueError`` unless ``x`` has at least ``k`` rows (``why``: what they are needed for)."""
  if np.shape(x)[0] < k:
    raise ValueError(f"{name} needs at least {k} rows {why}, got {np.shape(x)[0]}.")


def nonzero_rows(x, name: str = "x", why: str = "") -> None:
  """Refuse an ``x (n, d)`` with an all-zero row (a cosine or a normalization would divide by 0)."""
  if is_traced(x):
    return
  norms = np.linalg.norm(np.asarray(x, np.float64), axis=1)
  zero = np.flatnonzero(norms == 0)
  if zero.size:
    raise ValueError(f"{name} has {zero.size} all-zero row(s), e.g. row(s) {zero[:5].tolist()}; "
                     f"{why or 'the quantity divides by ||x_i||'}. Remove them.")


def check_labels(labels, n: int, name: str = "labels", *, x_shape: tuple[int, ...] | None = None
                 ) -> np.ndarray:
  """Validate cluster labels: ``(n,)`` integers taking every value ``0 … M-1``.

  Args:
    labels: array-like ``(n,)``.
    n: number of samples (rows of x).
    name: argument name used in messages.
    x_shape: shape of the data, to recognise a transposed ``x`` (labels matching its second axis).

  Returns:
    The labels as a NumPy int array.

  Raises:
    ValueError: wrong shape, non-integer dtype, a negative value, or a cluster id with no sample.
  """
  if is_traced(labels):
    raise ValueError(f"{name} must be concrete (the cluster loop is unrolled in Python), got a "
                     "traced value; compute it outside jit.")
  arr = np.asarray(labels)
  if arr.shape != (n,):
    hint = ""
    if x_shape is not None and len(x_shape) == 2 and arr.shape == (x_shape[1],) != (x_shape[0],):
      hint = (f"; x has shape {tuple(x_shape)} and {name} has {x_shape[1]} entries: x looks "
              f"transposed, pass one sample per row, shape (n, d) = ({x_shape[1]}, {x_shape[0]})")
    raise ValueError(f"{name} must have shape (n,) = ({n},), got {tuple(arr.shape)}{hint}.")
  if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
    raise ValueError(f"{name} must be integers (cluster ids 0 … M-1), got dtype {arr.dtype}; cast "
                     f"with {name}.astype(int) if the values are whole numbers.")
  if n == 0:
    raise ValueError(f"{name} is empty: need at least one sample.")
  if arr.min() < 0:
    i = int(np.argmin(arr))
    raise ValueError(f"{name} must be cluster ids >= 0 (0 … M-1), got {int(arr[i])} at sample {i}; a "
                     "negative label would silently drop the sample from the cluster sums.")
  uniq = np.unique(arr)
  if int(uniq[-1]) != len(uniq) - 1:
    # The first few missing ids lie below len(uniq) + 11 (at most len(uniq) ids are present).
    missing = np.setdiff1d(np.arange(len(uniq) + 11), uniq)
    missing = missing[missing < int(uniq[-1])]
    raise ValueError(f"{name} must take every value 0 … M-1 (contiguous cluster ids, each present); "
                     f"got values {_short(uniq)}, so cluster(s) {_short(missing)} have no sample. "
                     f"Relabel with np.unique({name}, return_inverse=True)[1].")
  return arr


def _short(a: np.ndarray, k: int = 10) -> str:
  a = [int(v) for v in np.asarray(a)]
  return str(a) if len(a) <= k else str(a[:k])[:-1] + ", …]"


def check_unit_block(unit_block, p: int, m: int, name: str = "unit_block") -> np.ndarray:
  """Validate a unit → cluster map: ``(p,)`` integers in ``-1 … M-1`` (``-1`` = no cluster).

  Raises:
    ValueError: wrong shape, non-integer dtype, or a value outside ``-1 … M-1``.
  """
  if is_traced(unit_block):
    raise ValueError(f"{name} must be concrete, got a traced value; compute it outside jit.")
  arr = np.asarray(unit_block)
  if arr.shape != (p,):
    raise ValueError(f"{name} must have shape (p,) = ({p},), got {tuple(arr.shape)}.")
  if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
    raise ValueError(f"{name} must be integers (the cluster of each unit, -1 = none), got dtype "
                     f"{arr.dtype}; a float id would match no cluster and leave the unit unassigned.")
  if p and (arr.min() < -1 or arr.max() >= m):
    raise ValueError(f"{name} values must lie in -1 … {m - 1} (M={m} clusters), got range "
                     f"[{arr.min()}, {arr.max()}].")
  return arr


def check_scalar(value, name: str, *, minimum: float = 0.0, strict: bool = False, why: str = ""):
  """Validate a real hyper-parameter (σ, λ, ε, …): finite and ``>= minimum`` (``> minimum`` if strict).

  Arrays are checked element-wise; tracers are returned unchecked.

  Returns:
    ``value`` unchanged.

  Raises:
    ValueError: non-numeric, NaN/inf, or below the minimum.
  """
  if is_traced(value):
    return value
  try:
    arr = np.asarray(value, dtype=np.float64)
  except (TypeError, ValueError):
    raise ValueError(f"{name} must be a real number, got {value!r} ({_dtype_name(value)}).") from None
  rule = f"{'>' if strict else '>='} {minimum:g}"
  reason = f" ({why})" if why else ""
  if not np.all(np.isfinite(arr)):
    raise ValueError(f"{name} must be a finite number {rule}{reason}, got {_show(value)}.")
  if np.any(arr < minimum) or (strict and np.any(arr == minimum)):
    raise ValueError(f"{name} must be {rule}{reason}, got {_show(value)}.")
  return value


def _show(value) -> str:
  arr = np.asarray(value)
  return repr(float(arr)) if arr.ndim == 0 else f"an array with range [{arr.min()}, {arr.max()}]"


def check_sigma(sigma, *, positive: bool = False, why: str = "", name: str = "sigma"):
  """σ (the noise std of Eq. 6): finite and ``>= 0``, or ``> 0`` with ``positive``."""
  if not why and positive:
    why = "the noise std; the formula divides by sigma"
  return check_scalar(sigma, name, strict=positive, why=why or "the noise std of Eq. 6")


def check_lam(lam, name: str = "lam", why: str = "the weight decay of Eq. 6"):
  """λ (the weight decay of Eq. 6): finite and ``>= 0`` (a negative λ rewards large weights)."""
  return check_scalar(lam, name, why=why)


def check_int(value, name: str, minimum: int = 0, what: str = "") -> int:
  """An ``int`` or NumPy integer ``>= minimum``; floats (even 2.0) and bools are refused.

  Raises:
    ValueError: not an integer, or below ``minimum``.
  """
  if isinstance(value, np.ndarray) and value.ndim == 0:
    value = value[()]
  rule = f"an integer >= {minimum}" + (f" ({what})" if what else "")
  if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
    raise ValueError(f"{name} must be {rule}, got {value!r} ({type(value).__name__}).")
  if value < minimum:
    raise ValueError(f"{name} must be {rule}, got {value}.")
  return int(value)


def check_width(value, name: str = "width", minimum: int = 0) -> int:
  """A width (number of units): :func:`check_int` with the reason in the message."""
  return check_int(value, name, minimum, "a number of units")


def check_widths(widths: Sequence[int], name: str = "widths", minimum: int = 0) -> list[int]:
  """A sequence of widths, each checked by :func:`check_width` (its index in the message)."""
  if isinstance(widths, (str, bytes)) or not hasattr(widths, "__len__"):
    raise ValueError(f"{name} must be an int (one width for every cluster) or a sequence of ints, "
                     f"got {widths!r} ({type(widths).__name__}).")
  return [check_width(w, f"{name}[{i}]", minimum) for i, w in enumerate(widths)]


def check_finite_params(params, name: str = "params") -> None:
  """Refuse concrete weights with a NaN or inf entry (every bound computed from them would be NaN)."""
  for label, w in (("w1", params.w1), ("w2", params.w2)):
    if w is None or is_traced(w):
      continue
    arr = np.asarray(w)
    if not np.all(np.isfinite(arr)):
      raise ValueError(f"{name}.{label} has {int(np.sum(~np.isfinite(arr)))} non-finite entries "
                       "(NaN or inf): a diverged or corrupted net; no bound can be certified for it.")


def rank_tolerance(s_max: float, shape: tuple[int, int], dtype) -> float:
  r"""Singular values ≤ this are round-off: s_max · max(n, d) · eps(dtype) (NumPy's ``matrix_rank``).

  ``dtype`` is the data's (float32 data stored in float32 is full-rank at the 1e-7 level however it
  was generated), so float32 data use float32's eps even when the SVD runs in float64.
  """
  return float(s_max) * max(shape) * float(jnp.finfo(dtype).eps)
