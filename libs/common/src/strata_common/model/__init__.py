"""Frozen domain values with their JSON form: the cluster spec (what the API stores and the planner
plans from), its pools and layers, and the template of one node (a node step's input)."""
