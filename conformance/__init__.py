"""The encoder-contract conformance suite (import name ``lra_conformance``)."""
