"""Strata's Azure driver."""
