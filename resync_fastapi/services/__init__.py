"""Domain work behind the routes: TWS calls, the chat rule engine, auth, documents."""
