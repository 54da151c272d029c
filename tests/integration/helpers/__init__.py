"""Helpers the integration test files share (one module per subject), so that no test file imports another."""
