"""The product catalog: what is for sale, at what price, and how much is left."""
