"""Recovery: what hakari does for each kind of failure (host, process, instance),
under one policy (policy.py)."""
