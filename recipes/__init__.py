"""Thin command-line recipes over the kerasopt library (`python -m recipes.NAME --help`)."""
