"""SDMA, spectrum divergence masked attention, as a diffusers attention processor.

The definition, with the equation numbers cited below, is docs/method/sdma.md.

The UNet input is `x = concat(z_music, z_effects, dim=-1)`, shape (B, C, T, 2F) with F = 16
latent mel bins per stem (soundtrack/models/ldm.py). At every UNet call an
:class:`SDMAController` reads the stems' spectral energy off x_t itself (no extra network
pass, so training and sampling see the same thing) and turns it into
- a cross-attention routing bias: a music-band query prefers music-condition tokens and
  attends to effect-condition tokens only where the effects dominate that patch, and the
  other way round for the effects band (eqs. 8-10);
- a self-attention bias that damps attention across the two stems at the frames where
  their spectra diverge (eq. 11).

Both biases factor through the token types (eq. 12), so they are added as a few extra
query/key feature dimensions and the attention stays one fused `scaled_dot_product_attention`
call with no (L, L) bias tensor.

    controller = SDMAController(SDMAParams())
    set_sdma(unet, controller)                  # every attention layer of the UNet
    controller.update(x_t, alpha_t, sigma_t, token_types)
    eps = unet(x_t, t, encoder_hidden_states=tokens).sample
    set_plain(unet)                             # diffusers' default processor again
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

MUSIC, EFFECT = 0, 1  # token types and stem indices


@dataclass(frozen=True)
class SDMAParams:
    """Hyper-parameters of SDMA (docs/method/sdma.md, eqs. 5-11)."""

    beta: float = 2.0  # mask sharpness per nat of log-energy ratio, eq. (7)
    lam: float = 0.9  # routing strength lambda in [0, 1]; 0 switches routing off, eq. (8)
    gamma: float = 4.0  # self-attention damping per nat of JS divergence; 0 switches it off, eq. (11)
    energy_floor: float = 1e-2  # epsilon_E, floor of the clean-energy estimate, eq. (4)
    route_floor: float = 0.05  # epsilon_w in log(epsilon_w + w), eq. (9)
    smooth: int = 3  # box smoothing S over (time, frequency) patches of one stem, eq. (4)
    n_bins: int = 16  # latent mel bins per stem band


def js_divergence(p: Tensor, q: Tensor, *, dim: int = -1) -> Tensor:
    """Jensen-Shannon divergence (nats) between distributions along `dim`; eq. (6).

    0 for identical distributions, ln 2 for disjoint supports.
    """
    assert p.shape == q.shape, f"{p.shape=} {q.shape=}"
    m = 0.5 * (p + q)
    kl_pm = (torch.special.xlogy(p, p) - torch.special.xlogy(p, m)).sum(dim)
    kl_qm = (torch.special.xlogy(q, q) - torch.special.xlogy(q, m)).sum(dim)
    return 0.5 * (kl_pm + kl_qm)


class SDMAController:
    """Per-call spectral state shared by every :class:`SDMAAttnProcessor` of one UNet.

    Not an nn.Module and without parameters: it holds the masks of the current UNet call
    only. `update` must be called before each UNet forward (SoundtrackLDM does it).
    """

    def __init__(self, params: SDMAParams = SDMAParams()) -> None:
        self.params = params
        self.enabled = True
        self.record = False  # when True, processors store attention probabilities (debug/tests)
        self.records: dict[str, Tensor] = {}
        self.clear()

    def clear(self) -> None:
        self.grid: tuple[int, int] | None = None
        self.energy: Tensor | None = None  # (B, 2, T, F): E_hat of music, effects, eq. (4)
        self.divergence: Tensor | None = None  # (B, T): D(tau), eq. (6)
        self.mask: Tensor | None = None  # (B, T, F): effects dominance M(tau, phi), eq. (7)
        self.token_types: Tensor | None = None  # (N,) or (B, N) long: MUSIC or EFFECT
        self._maps: Tensor | None = None  # (B, 3, T, 2F) query maps: c_music, c_effect, a_self
        self._stem: Tensor | None = None  # (1, 1, T, 2F) key map s: 0 music band, 1 effects band
        self._levels: dict[tuple[int, int], tuple[Tensor, Tensor]] = {}

    @property
    def active(self) -> bool:
        return self.enabled and self._maps is not None

    def _check(self, x_t: Tensor) -> None:
        assert x_t.ndim == 4 and x_t.shape[-1] == 2 * self.params.n_bins, (
            f"x_t must be (B, C, T, {2 * self.params.n_bins}) = concat(music, effects) along frequency; "
            f"{x_t.shape=}")

    def update(self, x_t: Tensor, alpha_t: Tensor, sigma_t: Tensor, token_types: Tensor, *,
               reference: Tensor | None = None, music_template: Tensor | None = None) -> None:
        """Read the stems' spectra off the noisy latent x_t (B, C, T, 2F).

        alpha_t, sigma_t: (B,) or scalars with x_t = alpha_t x_0 + sigma_t eps (eq. 3);
        token_types: (N,) or (B, N) of MUSIC/EFFECT for the cross-attention tokens;
        reference: (C, 2F) or (C, 1, 2F) latent of silence, energy is measured from it (eq. 4);
        music_template: (C, F, F) when the music band is a note roll, not a mel latent: the
            energy of roll channel c, column d reaches mel band phi with weight W[c, d, phi]
            (docs/method/score.md eq. S5); None: the music band is a mel latent, as the effects.
        """
        self._check(x_t)
        p = self.params
        B, C, T, W = x_t.shape
        self.clear()
        self.grid = (T, W)
        alpha = torch.as_tensor(alpha_t, dtype=x_t.dtype, device=x_t.device).reshape(-1, 1, 1, 1)
        sigma = torch.as_tensor(sigma_t, dtype=x_t.dtype, device=x_t.device).reshape(-1, 1, 1, 1)
        if reference is not None:
            ref = reference.to(x_t).reshape(1, C, -1, W)
            x_t = x_t - alpha * ref  # x_t - alpha_t z_silence = alpha_t (x_0 - z_silence) + sigma_t eps
        # eq. (4): E_hat = max(eps_E, (S[mean_c x^2] - sigma^2) / alpha^2), per stem band
        if music_template is None:
            power = x_t.pow(2).mean(1)  # (B, T, 2F)
            bands = torch.stack(power.split(p.n_bins, dim=-1), 1)  # (B, 2, T, F)
        else:  # score.md eq. (S5): per-channel clean energy of the roll, through the template
            roll_e = ((x_t[..., :p.n_bins].pow(2) - sigma.pow(2)) / alpha.pow(2)).clamp_min(0)  # (B, C, T, F)
            music = torch.einsum("bctd,cdf->btf", roll_e, music_template.to(x_t))
            effects = x_t[..., p.n_bins:].pow(2).mean(1)  # (B, T, F)
            bands = torch.stack([alpha.pow(2)[:, 0] * music + sigma.pow(2)[:, 0], effects], 1)  # (B, 2, T, F)
        if p.smooth > 1:
            bands = F.avg_pool2d(bands, p.smooth, stride=1, padding=p.smooth // 2, count_include_pad=False)
        energy = ((bands - sigma.pow(2)) / alpha.pow(2)).clamp_min(p.energy_floor)  # (B, 2, T, F)
        # eq. (5): per-frame spectral distribution of each stem
        dist = energy / energy.sum(-1, keepdim=True)
        divergence = js_divergence(dist[:, MUSIC], dist[:, EFFECT])  # (B, T), eq. (6)
        log_e = energy.log()
        mask = torch.sigmoid(p.beta * (log_e[:, EFFECT] - log_e[:, MUSIC]))  # (B, T, F), eq. (7)

        # eqs. (8)-(9): routing weights of each token type for a query in each band
        norm = math.log(p.route_floor + 1.0)
        effect_for_music = torch.log(p.route_floor + (1 - p.lam) + p.lam * mask) - norm  # (B, T, F)
        music_for_effect = torch.log(p.route_floor + (1 - p.lam) + p.lam * (1 - mask)) - norm
        zeros = torch.zeros_like(mask)
        c_music = torch.cat([zeros, music_for_effect], -1)  # (B, T, 2F): bias on MUSIC tokens
        c_effect = torch.cat([effect_for_music, zeros], -1)  # bias on EFFECT tokens
        stem = torch.cat([torch.zeros(p.n_bins), torch.ones(p.n_bins)]).to(x_t)  # (2F,) s(phi)
        a_self = -p.gamma * divergence[..., None] * (1 - 2 * stem)  # (B, T, 2F), eq. (12)
        self.energy, self.divergence, self.mask = energy, divergence, mask
        self.token_types = token_types.to(x_t.device).long()
        self._maps = torch.stack([c_music, c_effect, a_self], 1)  # (B, 3, T, 2F)
        self._stem = stem.expand(1, 1, T, W)

    def level(self, seq_len: int) -> tuple[Tensor, Tensor]:
        """Query maps (B, L, 3) and key stem map (1, L, 1) at the UNet level whose grid has L cells.

        The UNet halves (ceil) both axes per level, so maps are average-pooled by 2^k.
        """
        assert self.grid is not None and self._maps is not None, "SDMAController.update was not called"
        h, w = self.grid
        k = 0
        while h * w > seq_len:
            h, w, k = -(-h // 2), -(-w // 2), k + 1
        if h * w != seq_len:
            raise ValueError(f"sequence length {seq_len} is no level grid of the latent {self.grid}")
        if (h, w) not in self._levels:
            maps, stem = self._maps, self._stem
            if k:
                maps = F.avg_pool2d(maps, 2 ** k, ceil_mode=True)
                stem = F.avg_pool2d(stem, 2 ** k, ceil_mode=True)
            assert maps.shape[-2:] == (h, w), f"{maps.shape=} {(h, w)=}"
            self._levels[(h, w)] = (maps.flatten(2).transpose(1, 2), stem.flatten(2).transpose(1, 2))
        return self._levels[(h, w)]

    def cross_features(self, seq_len: int, n_tokens: int, batch: int) -> tuple[Tensor, Tensor]:
        """Extra query (B, L, 2) and key (B, N, 2) features: q_extra . k_extra = routing bias, eq. (12)."""
        maps, _ = self.level(seq_len)
        types = self.token_types
        assert types.shape[-1] == n_tokens, f"{types.shape=} but {n_tokens} tokens"
        k_extra = F.one_hot(types, 2).to(maps).expand(batch, n_tokens, 2)  # (B, N, 2)
        return maps[..., :2], k_extra

    def self_features(self, seq_len: int) -> tuple[Tensor, Tensor]:
        """Extra query (B, L, 1) and key (1, L, 1) features: a(q) s(k) = self-attention bias, eq. (12)."""
        maps, stem = self.level(seq_len)
        return maps[..., 2:], stem


class SDMAAttnProcessor:
    """Attention with the SDMA biases; a drop-in for diffusers' `AttnProcessor2_0`.

    Self-attention (encoder_hidden_states None) gets the cross-stem damping of eq. (11),
    cross-attention the token routing of eqs. (8)-(10). The biases enter as extra feature
    dimensions of q and k (eq. 12). With the controller inactive it is plain attention.
    """

    def __init__(self, controller: SDMAController, *, name: str = "") -> None:
        self.controller = controller
        self.name = name

    def __call__(self, attn, hidden_states: Tensor, encoder_hidden_states: Tensor | None = None,
                 attention_mask: Tensor | None = None, temb: Tensor | None = None, *args, **kwargs) -> Tensor:
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch_size, channel, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch_size, channel, height * width).transpose(1, 2)
        is_cross = encoder_hidden_states is not None
        batch_size, seq_len, _ = hidden_states.shape  # (B, L, C): L = h*w latent patches
        n_keys = encoder_hidden_states.shape[1] if is_cross else seq_len
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, n_keys, batch_size)
            attention_mask = attention_mask.view(batch_size, attn.heads, -1, attention_mask.shape[-1])
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)

        query = attn.to_q(hidden_states)
        if encoder_hidden_states is None:
            encoder_hidden_states = hidden_states
        elif attn.norm_cross:
            encoder_hidden_states = attn.norm_encoder_hidden_states(encoder_hidden_states)
        key = attn.to_k(encoder_hidden_states)
        value = attn.to_v(encoder_hidden_states)
        head_dim = key.shape[-1] // attn.heads
        query = query.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)  # (B, h, L, d)
        key = key.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)  # (B, h, N, d)
        value = value.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)

        ctrl = self.controller
        if ctrl.active:
            # eq. (12): logits = (s q) . k + q_extra . k_extra, one fused attention call
            if is_cross:
                q_extra, k_extra = ctrl.cross_features(seq_len, n_keys, batch_size)
            else:
                q_extra, k_extra = ctrl.self_features(seq_len)
            assert q_extra.shape[0] == batch_size, (
                f"controller was updated with batch {q_extra.shape[0]}, attention runs batch {batch_size}")
            n_extra = q_extra.shape[-1]
            q_extra = q_extra[:, None].to(query).expand(batch_size, attn.heads, seq_len, n_extra)
            k_extra = k_extra[:, None].to(key).expand(batch_size, attn.heads, n_keys, n_extra)
            query = torch.cat([query * attn.scale, q_extra], -1)  # (B, h, L, d + e)
            key = torch.cat([key, k_extra], -1)
            value = F.pad(value, (0, n_extra))  # same head size for the fused kernels; sliced off below
            scale = 1.0
        else:
            scale = attn.scale
        if ctrl.record:
            logits = query @ key.transpose(-1, -2) * scale
            if attention_mask is not None:
                logits = logits + attention_mask
            ctrl.records[self.name] = logits.softmax(-1).detach()  # (B, h, L, N)
        hidden_states = F.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask,
                                                       dropout_p=0.0, is_causal=False, scale=scale)
        hidden_states = hidden_states[..., :head_dim]  # (B, h, L, d)
        hidden_states = hidden_states.transpose(1, 2).reshape(batch_size, -1, attn.heads * head_dim)
        hidden_states = hidden_states.to(query.dtype)
        hidden_states = attn.to_out[0](hidden_states)
        hidden_states = attn.to_out[1](hidden_states)
        if input_ndim == 4:
            hidden_states = hidden_states.transpose(-1, -2).reshape(batch_size, channel, height, width)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor


def set_sdma(unet: torch.nn.Module, controller: SDMAController) -> None:
    """Install an :class:`SDMAAttnProcessor` on every attention layer of a diffusers UNet."""
    names = list(unet.attn_processors)
    if not names:
        raise ValueError("the UNet has no attention layers to put SDMA on")
    unet.set_attn_processor({name: SDMAAttnProcessor(controller, name=name) for name in names})


def set_plain(unet: torch.nn.Module) -> None:
    """Restore diffusers' default (scaled-dot-product) attention on every layer."""
    from diffusers.models.attention_processor import AttnProcessor2_0

    unet.set_attn_processor(AttnProcessor2_0())


def uses_sdma(unet: torch.nn.Module) -> bool:
    return any(isinstance(p, SDMAAttnProcessor) for p in unet.attn_processors.values())
