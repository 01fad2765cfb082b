"""Host failure: a fenced compute host's instances evacuated, each exactly once."""
