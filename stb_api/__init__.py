"""The TV set-top-box API and TV pages (aiohttp): signed device sign-in, service guides, progress queries and
requests from the remote, on the shared ticket store and guide catalog. See :func:`stb_api.app.create_app`."""
