"""headwater.runtime.state."""
