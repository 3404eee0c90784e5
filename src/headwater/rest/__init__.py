"""headwater.rest."""
