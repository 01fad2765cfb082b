"""The local lab: real Pacemaker nodes in network namespaces and a real Nova."""
