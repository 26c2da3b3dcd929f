"""Clouds: the driver protocol, its error and state vocabulary, catalogs, and the registry of driver plugins."""
