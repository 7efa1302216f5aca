"""soundtrack: an open video-soundtrack studio (music and sound effects from one latent
diffusion model, steered by musician controls). See README.md and docs/."""

__version__ = "0.1.0"
