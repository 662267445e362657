"""adain: arbitrary style transfer in real time with Adaptive Instance Normalization."""

