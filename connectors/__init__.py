"""Sources and sinks: one module per external system."""

__all__: list[str] = []
