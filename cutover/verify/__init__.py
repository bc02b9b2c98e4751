"""Checks on DNS as served: propagation to the authoritative servers, and email policy lint."""
