"""The web console (README: Web console): server-rendered pages for customers
under ``[console] path``, on the daemon's HTTP server.

``settings`` is what the configuration gives (imported by gateway.config);
``app`` builds the console's aiohttp sub-application (imported by the
runtime, which mounts it), ``pages*`` hold its handlers, ``auth`` its
sessions, CSRF tokens and log-in, ``templates/`` and ``static/`` what it
serves (htmx vendored, no build step).
"""
