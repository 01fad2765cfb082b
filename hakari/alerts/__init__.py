"""Pacemaker alerts → hakari: the alert agent, its spool, and the engine's side of it.

Modules on the alert path (agent, record, spoolio, statedir) use the standard library
only and import nothing at package import time: the alert runs on every cluster event.

- record:   CRM_alert_* environment → normalized event record + dedupe key (pure)
- statedir: the state directory from hakari.conf without oslo.config
- spoolio:  durable write-once of one spool file; the wake-up datagram; pruning the
            spool from the agent (every node has one, only one runs the engine)
- agent:    the alert agent's main()
- events:   AlertEvent and friends, the typed view of a spool record (for the engine)
- spool:    the engine's consumer API: pending events in order, ack, quarantine, prune,
            and the wake socket
"""
