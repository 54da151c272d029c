"""A faithful simulator of the Cisco Meeting Server MMP (admin SSH CLI and SFTP), for tests, demo and benchmarks.

Run ``python -m tests.cmssim --help``; see ``tests/cmssim/README.md``.
"""
