"""The Nova layer: everything hakari asks of Nova, below recovery, the engine, the
agents and the commands.

- ``client``: :class:`~hakari.nova.client.Nova`, one verb per call, typed answers,
  timeouts and retries; the only module that sends requests to OpenStack;
- ``resources``: the typed answers (services, servers, migrations, aggregates);
- ``errors``: what a failed call raises;
- ``cloud``: which clouds.yaml entry holds the credentials;
- ``fencing``: fencing and unfencing a compute host in Nova, the one implementation
  the engine's host recovery and fence_hakari share.

Nothing is re-exported here: the pure decision modules import ``resources`` alone and
stay free of openstacksdk's import cost (0.4 s), which only ``client`` and ``cloud`` pay.
"""
