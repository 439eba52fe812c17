"""What people read: plans, history and cycle events as text, Markdown or JSON (pure)."""
