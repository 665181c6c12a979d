"""Networks: the MLP and its initialisation, diagnostics of gradients and units, checkpoints."""
