"""Clouds: what each cloud offers (regions, zones, instance types) and, later, its drivers."""
