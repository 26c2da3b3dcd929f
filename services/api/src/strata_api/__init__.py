"""Strata HTTP API: a Flask app serving /v1 resources and health probes."""
