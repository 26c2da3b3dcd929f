"""Strata's vSphere driver: vCenter through pyvmomi, registered as the cloud type `vsphere`."""
