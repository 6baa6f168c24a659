"""Payment providers behind one interface (CONTRACT §2)."""
