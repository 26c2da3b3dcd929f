"""Strata addons service: applies CNI, CSI and add-on packs."""
