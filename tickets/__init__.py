"""tickets package."""
