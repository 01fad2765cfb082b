"""`hakari api`: Masakari's API v1 in front of hakari's recovery (docs/api.md).

Needs the api extra (keystonemiddleware, oslo.policy, SQLAlchemy, WebOb). Only `hakari
api`'s run() imports this package, and a WSGI server imports hakari.api.wsgi, so every
other command works without the extra.
"""
