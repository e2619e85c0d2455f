"""Simulations: one module per run, each with a frozen ``Config``, ``Config.smoke()`` and
``run(cfg, workdir)``; flags exist only under ``if __name__ == "__main__"``."""
