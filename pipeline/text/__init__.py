"""Text for the text operators: tokens and vocabularies, log templates."""

__all__: list[str] = []
