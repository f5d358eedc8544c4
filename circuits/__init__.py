"""Circuit builders: populations wired into an explicit `brian2.Network`."""
