"""Hostile inputs: each case runs in a subprocess bounded in time and memory (see ``bounded``)."""
