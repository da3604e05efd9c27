"""The plugin version (recorded in every channel config)."""
__version__ = '0.12.0'
