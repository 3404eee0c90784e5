"""headwater.runtime.checkpoint."""
