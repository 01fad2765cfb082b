"""Process failure: nova-compute failing on a host that is up."""
