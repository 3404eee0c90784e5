"""headwater.runtime."""
