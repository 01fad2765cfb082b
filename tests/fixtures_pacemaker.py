"""pytest fixtures for real Pacemaker clusters (the lab)."""
