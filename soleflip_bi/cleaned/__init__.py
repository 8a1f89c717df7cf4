"""The cleaned layer: one definition of a sale, of stock, and of what gets rejected."""
