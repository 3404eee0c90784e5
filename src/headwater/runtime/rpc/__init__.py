"""headwater.runtime.rpc."""
