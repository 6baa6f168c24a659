"""Coupons (CONTRACT §8): their terms, when one may be used, and how operators issue them."""
