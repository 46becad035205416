"""Regularization and augmentation layers Keras lacks, and test-time augmentation."""
