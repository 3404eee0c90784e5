"""headwater.runtime.network."""
