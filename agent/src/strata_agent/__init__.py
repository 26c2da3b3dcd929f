"""Strata's management agent: in its cluster, it pulls the cluster's desired add-on state from the control
plane (the agent API), applies it, and reports what it applied, the Nodes and the drift it corrected."""
