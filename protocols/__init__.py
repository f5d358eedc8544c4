"""Protocols: what happens to a circuit over time. Each module runs as a script too."""
