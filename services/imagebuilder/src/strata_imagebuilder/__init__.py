"""Strata imagebuilder service: resolves, copies and customizes VM images."""
