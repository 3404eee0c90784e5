"""headwater.runtime.jobmanager."""
