"""Prices and promotions: the one pricing function (kayisu.pricing.quote) and the rules around it."""
