"""Partners and redemption (核销): signed requests, exactly-once redemption, lockout, audit."""
