"""Operator commands run by hand against a deployed stack or the local one (``make rebuild``)."""
