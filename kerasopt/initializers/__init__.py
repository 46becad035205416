"""Parameter initialization (Goodfellow et al., Deep Learning, sec. 8.4): gains, sparse and delta-orthogonal initializers, LSUV, output bias from label priors."""
