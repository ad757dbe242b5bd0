"""The web dashboard at /dashboard: server-rendered pages (Jinja2, autoescaped) and a small
JSON feed the page's own script polls; logged in with the embedded identity service."""
