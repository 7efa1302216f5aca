"""Networks: CVSM encoders, the mel VAE, the vocoder, the SDMA latent-diffusion UNet."""
