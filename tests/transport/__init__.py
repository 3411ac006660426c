"""Tests of the transport layer: the transport seam, requests and urllib3 reach-ins, TLS, the fake transport."""
