"""Differentiable scores of a generated soundtrack: what SNIO climbs (docs/method/snio.md §2).

Every score reads the decoded log-mels of the two stems, (B, 64, F) at 100 frames/s, and is
a torch expression, so gradients flow back through the VAE decoder and the sampler to the
starting noise. Higher is better for every score.

    targets = ScoreTargets.make(controls, balance=0.5, events_s=[1.2, 3.4], n_frames=1024)
    scorer = Scorer(cvsm=models.cvsm, instruments=classifier)   # frozen models, or None
    s = scorer(music_mel, sfx_mel, targets, video_embed=v)        # {"tempo": (B,), ...}
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from soundtrack.config import TIMING, ScoreWeights
from soundtrack.music.families import FAMILY_NAMES
from soundtrack.models.instruments import MIN_FRAMES

FRAME_RATE = TIMING.mel_fps  # 100 mel frames per second
ACF_WINDOW, ACF_HOP = 800, 56  # 8 s autocorrelation frames (librosa's ac_size), hop 0.56 s (eq. 2)
TEMPO_LAGS = torch.arange(27, 121)  # beat periods in frames: 222-50 BPM (eq. 3)
TEMPO_TEMPERATURE = 0.25  # softness of the argmax over tempi (eq. 3)
TEMPO_TOLERANCE = 0.03  # a candidate within 3 % of the request counts as the request (eq. 3)
SYNC_SIGMA_S = 0.03  # width of the bump each visual event puts in the target train (eq. 5)
BALANCE_RANGE_DB = 12.0  # raw-stem loudness targets are clipped to +-12 dB (eq. 6)
SCORE_NAMES = ("tempo", "instruments", "balance", "sync", "cvsm", "presence", "density", "accents")


# ------------------------------------------------------------------------------------ envelopes
def onset_envelope(mel: Tensor) -> Tensor:
    """Spectral flux of a log-mel (B, 64, F) -> (B, F): mean over bins of the positive rise (eq. 1).

    The first frame has no predecessor and gets 0. Differentiable almost everywhere (ReLU).
    """
    rise = F.relu(mel[..., 1:] - mel[..., :-1]).mean(1)  # (B, F - 1)
    return F.pad(rise, (1, 0))


def stem_loudness_db(mel: Tensor) -> Tensor:
    """A stem's loudness from its log-magnitude mel (B, 64, F) -> (B,) dB, eq. (6).

    10 log10 of the mean over frames of the mel power sum; the floor of the log-mel
    (1e-5) keeps silence finite (about -100 dB + 10 log10 64).
    """
    power = torch.exp(2.0 * mel.float()).sum(1)  # (B, F)
    return 10.0 * torch.log10(power.mean(-1) + 1e-12)


def event_train(events_s: Tensor, n_frames: int, *, sigma_s: float = SYNC_SIGMA_S) -> Tensor:
    """Visual event times (E,) seconds -> (n_frames,) sum of Gaussian bumps at 100 frames/s (eq. 5)."""
    t = torch.arange(n_frames, dtype=torch.float32) / FRAME_RATE  # (F,)
    if events_s.numel() == 0:
        return torch.zeros(n_frames)
    d = t[None, :] - events_s.float()[:, None]  # (E, F)
    return torch.exp(-0.5 * (d / sigma_s) ** 2).sum(0)


# --------------------------------------------------------------------------------------- scores
def tempo_posterior(env: Tensor) -> tuple[Tensor, Tensor]:
    """librosa's tempo decision made soft (eqs. 2-3): (bpms (L,), log-probabilities (B, L)).

    env (B, F) onset envelope at 100 frames/s. As librosa.feature.tempo: the autocorrelation
    of 8 s Hann-windowed frames of the envelope (hop 0.56 s), each normalised by its lag-0
    value and averaged, read at the integer lags of 50-222 BPM and weighted by the log-normal
    prior around 120 BPM (one octave); librosa takes the argmax, this a softmax at
    temperature TEMPO_TEMPERATURE.
    """
    win, hop = ACF_WINDOW, ACF_HOP
    frames = F.pad(env, (win // 2, win // 2)).unfold(-1, win, hop)  # (B, W, win)
    frames = frames * torch.hann_window(win, periodic=False, device=env.device, dtype=env.dtype)
    power = torch.fft.rfft(frames, n=2 * win).abs() ** 2
    acf = torch.fft.irfft(power, n=2 * win)[..., :win]  # (B, W, win), eq. (2)
    acf = (acf / acf[..., :1].clamp_min(1e-8)).mean(1)  # (B, win)
    lags = TEMPO_LAGS.to(env.device)
    bpms = 60.0 * FRAME_RATE / lags.to(env.dtype)  # (L,)
    log_prior = -0.5 * torch.log2(bpms / 120.0) ** 2
    return bpms, ((acf[:, lags].clamp_min(1e-6).log() + log_prior) / TEMPO_TEMPERATURE).log_softmax(-1)


def tempo_log_posterior(env: Tensor, bpm: Tensor) -> Tensor:
    """log P(tempo within 3 % of `bpm`) under :func:`tempo_posterior`; env (B, F), bpm (B,) -> (B,)."""
    bpms, logp = tempo_posterior(env)  # eq. (3)
    near = (bpms[None, :] / bpm[:, None].to(env) - 1).abs() <= TEMPO_TOLERANCE  # (B, L)
    return torch.logsumexp(logp.masked_fill(~near, float("-inf")), -1)  # (B,)


def sync_score(sfx_mel: Tensor, target: Tensor) -> Tensor:
    """Cosine between the effects stem's onset envelope and the visual event train (eq. 5).

    sfx_mel (B, 64, F); target (B, F) or (F,). The envelope is smoothed with the same
    Gaussian as the event train, so an onset exactly on every event scores 1. 0 when there
    are no events in the window.
    """
    sigma = SYNC_SIGMA_S * FRAME_RATE
    half = int(math.ceil(3 * sigma))
    k = torch.arange(-half, half + 1, device=sfx_mel.device, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (k / sigma) ** 2)
    env = F.conv1d(onset_envelope(sfx_mel)[:, None], kernel[None, None], padding=half)[:, 0]  # (B, F)
    target = target.to(env).expand_as(env)
    if float(target.abs().sum()) == 0.0:
        return torch.zeros(env.shape[0], device=env.device)
    return F.cosine_similarity(env, target, dim=-1, eps=1e-6)


def balance_score(music_mel: Tensor, sfx_mel: Tensor, target_db: Tensor) -> Tensor:
    """-| (L_sfx - L_music) - target | / 6 dB on the raw stems, before the mixer (eq. 6).

    target_db (B,) is the slider's documented difference clipped to +-12 dB; NaN rows (a
    slider at 0 or 1: one stem is not heard) score 0.
    """
    diff = stem_loudness_db(sfx_mel) - stem_loudness_db(music_mel)  # (B,)
    score = -(diff - target_db.to(diff).nan_to_num(0.0)).abs() / 6.0
    return torch.where(target_db.to(diff.device).isnan(), torch.zeros_like(score), score)


def instrument_score(logits: Tensor, weights: Tensor) -> Tensor:
    """Mean Bernoulli log-likelihood of the requested families (eq. 4).

    logits (B, 10) of the instrument classifier; weights (B, 10) in [0, 1]: a family is
    requested when its weight is > 0 and each family's term is weighted by 0.5 + weight / 2
    (unrequested families count 0.5), so heavily weighted families matter most.
    """
    target = (weights > 0).to(logits)
    w = 0.5 + 0.5 * weights.to(logits)
    return -(w * F.binary_cross_entropy_with_logits(logits, target, reduction="none")).sum(-1) / w.sum(-1)


def cvsm_score(cvsm: torch.nn.Module, music_mel: Tensor, sfx_mel: Tensor, video_embed: Tensor) -> Tensor:
    """Mean CVSM cosine of the video embedding with the music and the effects embeddings (eq. 7)."""
    m = cvsm.music(music_mel).embed  # (B, d), unit norm
    e = cvsm.effects(sfx_mel).embed
    v = F.normalize(video_embed.to(m), dim=-1)
    return 0.5 * ((m * v).sum(-1) + (e * v).sum(-1))


# --------------------------------------------------------------------------------------- scorer
@dataclass
class ScoreTargets:
    """What the scores compare against, for one window (batch 1; tensors broadcast)."""

    tempo_bpm: Tensor  # (B,)
    instruments: Tensor  # (B, 10) weights in FAMILY_NAMES order
    balance_db: Tensor  # (B,) raw-stem target (NaN: not scored)
    events: Tensor  # (F,) visual event train at 100 frames/s
    n_events: int = 0
    weights: Mapping[str, float] = field(default_factory=lambda: ScoreWeights().for_window(has_events=True))
    heard: int | None = None  # mel frames of the window that reach the output (None: all; eq. 8c)
    # the score engine's roll scores (score.md eqs. S7-S9); None: a neural window, not scored
    lanes: Tensor | None = None  # (B, 4) 1 for a lane the orchestration gives a family
    motion: Tensor | None = None  # (T,) the picture's motion per latent frame
    event_frames: Tensor | None = None  # (E,) latent frames of the visual events

    @classmethod
    def make(cls, *, tempo_bpm: float, instruments: Mapping[str, float], balance: float,
             events_s: list[float] | Tensor, n_frames: int,
             weights: ScoreWeights | Mapping[str, float] | None = None,
             heard: int | None = None, lanes: list[float] | None = None,
             motion: np.ndarray | Tensor | None = None) -> ScoreTargets:
        """Targets from the controls (balance in [0, 1]) and the window's event times (seconds).

        weights: a :class:`ScoreWeights` (default: its defaults), whose balance weight is
        `balance_no_events` in a window without events (snio.md eq. 8b), or a name -> weight
        map used as it is. heard: the
        window's first `heard` of its n_frames frames are what the take keeps (the video ends
        inside the window); the scores of what is heard read only those (eq. 8c). lanes (4,)
        and motion (T,): the score engine's roll targets (score.md eqs. S7-S8).
        """
        if heard is not None and not 0 < heard <= n_frames:
            raise ValueError(f"heard={heard} frames is not in 1..{n_frames}")
        events = torch.as_tensor(events_s, dtype=torch.float32).reshape(-1)
        if weights is None or isinstance(weights, ScoreWeights):
            weights = (weights or ScoreWeights()).for_window(has_events=events.numel() > 0)
        if 0.0 < balance < 1.0:
            target = max(-BALANCE_RANGE_DB, min(BALANCE_RANGE_DB, 20 * math.log10(balance / (1 - balance))))
        else:
            target = float("nan")
        return cls(tempo_bpm=torch.tensor([float(tempo_bpm)]),
                   instruments=torch.tensor([[float(instruments.get(f, 0.0)) for f in FAMILY_NAMES]]),
                   balance_db=torch.tensor([target]), events=event_train(events, n_frames),
                   n_events=int(events.numel()), weights=dict(weights),
                   heard=None if heard is None or heard == n_frames else int(heard),
                   lanes=None if lanes is None else torch.tensor([lanes], dtype=torch.float32),
                   motion=None if motion is None else torch.as_tensor(motion, dtype=torch.float32),
                   event_frames=(events * TIMING.latent_fps).floor().long())


class Scorer:
    """Evaluates every score of :data:`SCORE_NAMES` on decoded stems; the weighted sum is J (eq. 8).

    `cvsm` and `instruments` are frozen modules (no gradient to their weights); either may be
    None, which drops its score (reported as absent, weighted 0).
    """

    def __init__(self, *, cvsm: torch.nn.Module | None = None,
                 instruments: torch.nn.Module | None = None) -> None:
        self.cvsm, self.instruments = cvsm, instruments
        for m in (cvsm, instruments):
            if m is not None:
                m.eval().requires_grad_(False)

    def __call__(self, music_mel: Tensor, sfx_mel: Tensor, targets: ScoreTargets, *,
                 video_embed: Tensor | None = None, roll: Tensor | None = None) -> dict[str, Tensor]:
        """Scores (B,) by name, and "total" = sum_c w_c s_c over the scores present (eq. 8).

        Tempo, balance, sync and instruments read the frames that are heard (eq. 8c); CVSM reads
        the whole window, as its video embedding does (the picture edge-padded past the end).
        roll (B, 8, T, 16): the score engine's note roll, scored with `targets.lanes`
        (presence, density against motion, accents on events: score.md eqs. S7-S9).
        """
        assert music_mel.shape == sfx_mel.shape and music_mel.ndim == 3, f"{music_mel.shape=} {sfx_mel.shape=}"
        n = targets.heard or music_mel.shape[-1]
        heard_music, heard_sfx = music_mel[..., :n], sfx_mel[..., :n]
        out = {"tempo": tempo_log_posterior(onset_envelope(heard_music), targets.tempo_bpm).exp(),
               "balance": balance_score(heard_music, heard_sfx, targets.balance_db)}
        if targets.n_events:
            out["sync"] = sync_score(heard_sfx, targets.events[..., :n])
        if self.instruments is not None:  # at least the classifier's shortest input (1.28 s)
            inst_music = music_mel[..., :max(n, MIN_FRAMES)]
            out["instruments"] = instrument_score(self.instruments(inst_music), targets.instruments)
        if self.cvsm is not None and video_embed is not None:
            out["cvsm"] = cvsm_score(self.cvsm, music_mel, sfx_mel, video_embed)
        if roll is not None and targets.lanes is not None:
            from soundtrack.sampling.roll_scores import roll_scores

            out.update(roll_scores(roll, wanted=targets.lanes.to(roll), motion=targets.motion,
                                   event_frames=targets.event_frames))
        total = sum(targets.weights.get(k, 0.0) * _objective(k, v) for k, v in out.items())
        out["total"] = total
        return out


def mean_scores(rows: list[Mapping[str, float]]) -> dict[str, float]:
    """Score dicts (windows, items, requests) -> the mean of each score over the rows that have it."""
    keys = sorted({k for r in rows for k in r})
    return {k: sum(r[k] for r in rows if k in r) / sum(k in r for r in rows) for k in keys}


def _objective(name: str, value: Tensor) -> Tensor:
    """The tempo term enters J as a log-probability (eq. 8); the others as they are reported."""
    return value.clamp_min(1e-6).log() if name == "tempo" else value


__all__ = ["SCORE_NAMES", "ScoreTargets", "Scorer",
           "balance_score", "cvsm_score", "event_train", "instrument_score", "mean_scores", "onset_envelope",
           "stem_loudness_db", "sync_score", "tempo_log_posterior", "tempo_posterior"]
