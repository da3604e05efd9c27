"""The plugin's commands (installed as ``lwdna-*`` console scripts; ``tools/*.py`` in a clone
call the same functions). Each parses its arguments before any heavy import."""
