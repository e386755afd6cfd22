"""Tests of polymagic.registry against Debian's real docker-registry."""
