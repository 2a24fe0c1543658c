"""JAX/Flax backend and reference models for the open Long Range Arena."""
