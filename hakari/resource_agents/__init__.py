"""OCF plumbing and hakari's resource agents."""
