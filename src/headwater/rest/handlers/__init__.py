"""REST handlers, one module per endpoint family (see :mod:`headwater.rest.endpoints`)."""
