"""Read Pacemaker/Corosync: run their tools and parse what they print."""
