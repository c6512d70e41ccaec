"""Pure renderers: syscall lines, summaries and trees as text or JSON, and as rich views."""
