"""Operations: one module per run (plan, apply, import, export, status) tying the floors below together.

Each run reads the workspace and its state, talks to Graph through ``GraphClient``, calls the pure
planner or the applier, and returns a result the CLI renders. What the runs share (opening Graph for
a workspace, holding the state lock, the progress meter) is in ``common``. Nothing below this package
imports it; the CLI sits on top of it.
"""
