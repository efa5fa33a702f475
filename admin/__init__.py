"""The admin and audit console (server-rendered; see issue 7)."""
