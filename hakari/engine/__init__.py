"""The long-running engine: alerts and cluster state in, incidents and recoveries out."""
