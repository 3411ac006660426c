"""Tests of the bottom layer: HTTP/1.1 body framing, sans-I/O."""
