"""First-order optimizers and wrappers that Keras lacks (delta-bar-delta, RMSProp with Nesterov momentum, weight averaging, lookahead, block coordinate descent)."""
