"""headwater.runtime.taskmanager."""
