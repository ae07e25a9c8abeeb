"""The web side: app factory (composition root), auth, the admin JSON API, pages, live websocket."""
