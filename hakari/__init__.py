"""hakari: instance high availability for OpenStack on Pacemaker/Corosync."""

__version__ = "0.1.0"
