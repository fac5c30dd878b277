"""Reading and validating datasets."""
