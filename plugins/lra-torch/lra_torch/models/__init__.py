"""Reference encoders, one readable module per model; each defines a module-level CARD."""
