"""Every write goes through here: websocket, HTTP, CLI and (later) PBX webhooks alike.

Each action validates, persists in one unit of work, and publishes its events only after
the commit. The actor is a required keyword-only argument.
"""
