"""Teacher-student methods, the paper's cross-modal distillation among them."""
