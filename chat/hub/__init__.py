"""Connection registry and fanout for this node.

The hub holds only local connections. It listens to the bus (which carries events from
every node, this one included) and writes each already-encoded frame to every local
connection that should see it, straight from its dispatch loop: the frame is wrapped
once (:class:`Outgoing`) and its websocket bytes serialised once for all recipients.
Events that arrive together go out together: one socket write for each connection's
share (:meth:`Hub.dispatch_batch`). Writing never waits. A connection whose socket is
congested keeps frames in a bounded backlog until the socket drains; when that
overflows, the connection is closed with CLOSE_RESYNC and resyncs when it reconnects,
so one stalled phone never delays anyone else.

One concept a module: ``connection`` (a websocket's outgoing side and its backlog),
``registry`` (the connections here, by channel and by person), ``fanout`` (the
:class:`Hub`: the bus listener and the routing of each topic), ``presence`` (who is
online, and its announcement window), ``call_presence`` (the snapshot connects share),
``sweeps`` (revocations and memberships caught up from the database).
"""

from __future__ import annotations

from chat.hub.call_presence import CallPresenceLoader
from chat.hub.connection import Connection, FrameSink, Outgoing
from chat.hub.fanout import Hub
from chat.hub.sweeps import MembershipSource, RevocationSource

__all__ = ["CallPresenceLoader", "Connection", "FrameSink", "Hub", "MembershipSource",
           "Outgoing", "RevocationSource"]
