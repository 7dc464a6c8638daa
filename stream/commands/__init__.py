"""Subcommands of the ``driftstream`` CLI, one module per concern."""
