"""SQL migrations of schema ``export``."""
