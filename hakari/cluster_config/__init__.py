"""Cluster configuration from one variables file: validation, rendering, CIB apply.

The Jinja2 templates in ``hakari/templates`` are the single source; ``hakari render`` and
the Ansible role ``hakari_cluster`` both render them from the same variables.
"""
