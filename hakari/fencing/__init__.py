"""Decide whether a lost host is fenced; the Nova-level fence agent fence_hakari."""
