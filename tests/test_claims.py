"""Tests of the claims registry of sims.verify_theory (smoke Config): every claim runs alone on a
fresh context, the registry's rows are verify's rows, and a claim that raises becomes an error row
without losing the others."""

import dataclasses

import jax
import numpy as np
import pytest

from sims import verify_theory as vt

KEYS = {"claim", "statement", "measured", "predicted", "holds", "note"}
ARRAYS = {"Theorem 3.1 balanced code": "balanced_slack",
          "Local minimum (Hessian certificate)": "hessian_eigenvalues"}


@pytest.fixture(scope="module")
def ctx():
  """The smoke context, built once (float64, as ``run`` builds it)."""
  with jax.enable_x64(True):
    return vt.make_context(vt.Config.smoke())


@pytest.fixture(scope="module")
def alone(ctx):
  """Each claim evaluated alone: on a copy of the context without any cached construction, so that
  nothing another claim computed is reused."""
  with jax.enable_x64(True):
    return {c.name: vt.evaluate_claim(c, dataclasses.replace(ctx)) for c in vt.CLAIMS}


def test_the_registry_and_the_context():
  names = [c.name for c in vt.CLAIMS]
  assert len(set(names)) == len(names) == 14
  assert all(c.check.__name__.startswith("claim_") and c.statement for c in vt.CLAIMS)
  with jax.enable_x64(True):
    ctx = vt.make_context(vt.Config.smoke())
  with pytest.raises(dataclasses.FrozenInstanceError):
    ctx.sigma = 1.0  # the context is immutable
  assert ctx.x.dtype == np.float64 and ctx.sigma == ctx.cfg.sigma and ctx.lam == ctx.cfg.lam


@pytest.mark.parametrize("name", [c.name for c in vt.CLAIMS])
def test_every_claim_runs_alone(alone, name):
  row, arrays = alone[name]
  assert set(row) == KEYS and row["claim"] == name
  assert row["measured"] not in ("error", "not computable"), row["note"]
  assert isinstance(row["holds"], bool) and isinstance(row["note"], str)
  assert set(arrays) == ({ARRAYS[name]} if name in ARRAYS else set())


def test_the_registry_gives_verify_s_rows(alone, x64):
  rows, arrays = vt.verify(vt.Config.smoke())
  assert [r["claim"] for r in rows] == [c.name for c in vt.CLAIMS]
  assert [r["holds"] for r in rows] == [alone[c.name][0]["holds"] for c in vt.CLAIMS]
  # The same numbers whether a claim runs alone or after the others (no hidden evaluation order).
  assert rows == [alone[c.name][0] for c in vt.CLAIMS]
  assert list(arrays) == list(ARRAYS.values())
  for name, key in ARRAYS.items():
    np.testing.assert_array_equal(arrays[key], alone[name][1][key])


def test_a_raising_claim_becomes_an_error_row(ctx, alone, x64, monkeypatch):
  def broken(_):
    raise RuntimeError("a bug in this claim")

  def refused(_):
    raise ValueError("the data break this claim's hypothesis")

  claims = list(vt.CLAIMS)
  claims[1] = claims[1]._replace(check=broken)
  claims[3] = claims[3]._replace(check=refused)
  monkeypatch.setattr(vt, "CLAIMS", tuple(claims))
  rows, arrays = vt.evaluate_all(ctx)
  assert [r["claim"] for r in rows] == [c.name for c in claims]
  bug, hyp = rows[1], rows[3]
  assert (bug["measured"], bug["predicted"], bug["holds"]) == ("error", "error", False)
  assert bug["note"].startswith("RuntimeError: a bug in this claim | ")
  assert (hyp["measured"], hyp["predicted"], hyp["holds"]) == ("not computable", "not computable",
                                                               False)
  assert hyp["note"] == "hypothesis violated: the data break this claim's hypothesis"
  # Every other row is computed as before; the failed Hessian row leaves no array.
  for i, c in enumerate(claims):
    if i not in (1, 3):
      assert rows[i] == alone[c.name][0]
  assert list(arrays) == ["balanced_slack"]
