"""Video LDM after Align your Latents (Blattmann et al., CVPR 2023): a frozen image LDM plus trained temporal layers."""
