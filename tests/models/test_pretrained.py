"""Pretrained plug-ins on tiny random configs: no download, shapes, norms, freezing, from_local."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from soundtrack.errors import InputError
from soundtrack.models.pretrained import ClapMusicEncoder, ClipVideoEncoder, resample_poly


def _tiny_clap():
    from transformers import ClapAudioConfig, ClapConfig, ClapFeatureExtractor, ClapModel, ClapTextConfig

    audio = ClapAudioConfig(num_mel_bins=16, spec_size=64, window_size=4, depths=[1, 1],
                            num_attention_heads=[2, 2],
                            patch_embeds_hidden_size=16, hidden_size=32, num_hidden_layers=2)
    text = ClapTextConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                          intermediate_size=37, max_position_embeddings=64)
    torch.manual_seed(0)
    model = ClapModel(ClapConfig(text_config=text, audio_config=audio, projection_dim=24))
    # 2 s at 48 kHz, hop 480 -> 201 frames <= spec_size * (spec_size // num_mel_bins) = 256.
    fe = ClapFeatureExtractor(feature_size=16, max_length_s=2)
    return model, fe


def _tiny_clip():
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    return CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, image_size=32,
        patch_size=8, projection_dim=24))


def _grads(module: torch.nn.Module) -> bool:
    return any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())


def test_resample_poly_keeps_a_tone():
    t = np.arange(16_000) / 16_000
    y = resample_poly(np.sin(2 * np.pi * 440 * t), sr_in=16_000, sr_out=48_000)
    ref = np.sin(2 * np.pi * 440 * np.arange(48_000) / 48_000)
    assert y.shape == (48_000,)
    assert np.abs(y[1000:-1000] - ref[1000:-1000]).max() < 1e-2


@pytest.mark.parametrize("freeze", [True, False])
def test_clap_music_encoder(freeze):
    model, fe = _tiny_clap()
    enc = ClapMusicEncoder(model, fe, embed_dim=12, freeze=freeze).train()
    wave = torch.randn(3, 16_000 * 3) * 0.1  # 3 s at 16 kHz: longer than max_length_s, centre-cropped
    z = enc(wave)
    assert z.shape == (3, 12)
    torch.testing.assert_close(z.norm(dim=-1), torch.ones(3))
    z.sum().backward()
    assert _grads(enc.proj)
    assert _grads(enc.backbone.audio_model) == (not freeze)
    assert enc.backbone.training == (not freeze)


def test_clap_from_local_round_trip(tmp_path):
    model, fe = _tiny_clap()
    model.save_pretrained(tmp_path)
    fe.save_pretrained(tmp_path)
    a = ClapMusicEncoder(model, fe, embed_dim=8).eval()
    b = ClapMusicEncoder.from_local(tmp_path, embed_dim=8).eval()
    wave = torch.randn(2, 16_000) * 0.1
    with torch.no_grad():
        torch.testing.assert_close(a.clap_features(wave), b.clap_features(wave))
    assert not any(p.requires_grad for p in b.backbone.parameters())


def test_from_local_missing_folder_raises(tmp_path):
    with pytest.raises(InputError, match="nothing is downloaded"):
        ClapMusicEncoder.from_local(tmp_path / "nope", embed_dim=8)
    with pytest.raises(InputError, match="nothing is downloaded"):
        ClipVideoEncoder.from_local(tmp_path / "nope", token_dim=8, embed_dim=8)


@pytest.mark.parametrize("freeze", [True, False])
def test_clip_video_encoder(freeze):
    enc = ClipVideoEncoder(_tiny_clip(), token_dim=16, embed_dim=12, freeze=freeze, chunk=7).train()
    frames = torch.randint(0, 256, (2, 10, 3, 48, 48), dtype=torch.uint8)
    out = enc(frames)
    assert out.tokens.shape == (2, 10, 16) and out.embed.shape == (2, 12)
    torch.testing.assert_close(out.embed.norm(dim=-1), torch.ones(2))
    (out.tokens.sum() + out.embed.sum()).backward()
    assert _grads(enc.to_tokens) and _grads(enc.to_embed)
    assert _grads(enc.backbone) == (not freeze)


def test_clip_from_local_round_trip(tmp_path):
    vision = _tiny_clip()
    vision.save_pretrained(tmp_path)
    a = ClipVideoEncoder(vision, token_dim=8, embed_dim=8).eval()
    b = ClipVideoEncoder.from_local(tmp_path, token_dim=8, embed_dim=8).eval()
    frames = torch.randint(0, 256, (1, 4, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        torch.testing.assert_close(a.frame_features(frames), b.frame_features(frames))
