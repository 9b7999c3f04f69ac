"""stb_api package."""
