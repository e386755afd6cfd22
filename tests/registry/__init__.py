"""Tests of polymagic.kube.registry against Debian's real docker-registry."""
