"""Simulations: one module per run, each with a frozen ``Config``, ``Config.smoke()`` and
``run(cfg, workdir, log=print)`` (the same arguments for every sim, so ``sims.make_all`` runs any of
them without a special case); each writes a run record with a checksummed ``summary.json`` that the
figure scripts read. Flags exist only under ``if __name__ == "__main__"``."""
