"""Training the decoder: crop sampling and the training loop."""
