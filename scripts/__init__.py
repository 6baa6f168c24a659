"""Operator scripts run from the checkout (make targets), never packaged into a function."""
