"""headwater.runtime.metrics."""
