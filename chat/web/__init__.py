"""The transport: Starlette routes for HTTP, the websocket endpoint and pages. Thin."""
