"""Property-based fuzzing of the sans-I/O layers (framing and codecs)."""
