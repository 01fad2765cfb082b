"""A fake Nova (plus a minimal Keystone v3) over HTTP on 127.0.0.1, for what the real Nova
lab cannot do: thousands of instances, injected latency and faults, a record of every call.

    from lab.fakenova import FakeNova
    with FakeNova(seed=1) as fake:
        fake.populate(hosts=3, servers_per_host=100)
        conn = fake.connect(microversion="2.68")     # openstacksdk
        ...

Standard library only (openstacksdk is imported by the ``connect`` helpers alone).
"""

from lab.fakenova.process import FakeNovaProcess, RemoteControl
from lab.fakenova.server import EvacuationConfig, FakeNova, RequestRecord

__all__ = ["EvacuationConfig", "FakeNova", "FakeNovaProcess", "RemoteControl",
           "RequestRecord"]
