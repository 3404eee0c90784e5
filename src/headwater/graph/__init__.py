"""headwater.graph."""
