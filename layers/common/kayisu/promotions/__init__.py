"""Promotions (CONTRACT §8): full reductions now; flash sales and group buys to come."""
