"""Reference encoders in Flax (linen), one module per model; each defines a module-level CARD."""
