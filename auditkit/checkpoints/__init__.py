"""Loading model checkpoints without executing anything they contain."""
