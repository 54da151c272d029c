"""Benchmarks of the collection on simulated labs (not part of the built collection, not run by `make test`)."""
