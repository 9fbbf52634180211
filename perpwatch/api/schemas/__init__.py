"""The API's request and response models, one module per area: ``analysis``, ``funding``
and ``tasks`` (which also holds the health report). Import from the modules."""
