"""Keras callbacks: LR range test, snapshot ensembles, averaged-weight swapping, curvature monitoring."""
