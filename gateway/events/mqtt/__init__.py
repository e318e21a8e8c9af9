"""smsgw's MQTT 3.1.1 client: what the MQTT bridge (:mod:`gateway.events.mqtt_bridge`) runs on.

Sans-IO below, asyncio on top, each module one job:

- :mod:`.framing`: a byte stream cut into packets (remaining-length digits,
  the packet size limit);
- :mod:`.packets`, :mod:`.encoding`, :mod:`.decoding`: the control packets
  as values, into bytes and out of them, every rule of their form checked;
- :mod:`.session`: the session state kept across connections (QoS 1
  PUBLISHes in flight, packet ids);
- :mod:`.connection` and :mod:`.events`: one connection's state machine,
  bytes and ``now`` in, events and bytes out, its timers as data;
- :mod:`.client`: the asyncio protocol that moves the bytes over TCP or TLS,
  arms the one timer and counts a batch's PUBACKs.
"""
