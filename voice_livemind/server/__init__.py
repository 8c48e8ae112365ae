"""`voice-livemind serve`: many users at once over WebSocket, plus the browser playground.

`protocol.py` (messages, pure), `connection.py` (one client's conversation), `app.py` (HTTP,
limits, shared models), `command.py` (the command line), `static/` (the page).
"""
