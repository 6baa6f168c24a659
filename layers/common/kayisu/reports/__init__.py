"""Finance exports: one CSV per business day, ISO week and month of money movements."""
