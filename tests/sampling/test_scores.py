"""The differentiable scores: each rewards what it names and passes gradients to the mel."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from soundtrack.sampling.scores import (ScoreTargets, Scorer, balance_score, event_train, instrument_score,
                                        onset_envelope, stem_loudness_db, sync_score, tempo_log_posterior)

FLOOR = math.log(1e-5)


def clicks(bpm: float, n: int = 1024, *, level: float = -2.0) -> torch.Tensor:
    """A (1, 64, n) log-mel with a broadband click on every beat of `bpm`."""
    mel = torch.full((1, 64, n), FLOOR)
    period = 6000.0 / bpm  # frames per beat at 100 frames/s
    for k in np.arange(0, n, period):
        i = int(round(k))
        mel[..., i:i + 3] = level
    return mel


@pytest.mark.parametrize("bpm", [66.0, 97.0, 128.0, 171.0])
def test_tempo_posterior_prefers_the_played_tempo(bpm):
    env = onset_envelope(clicks(bpm))
    right = tempo_log_posterior(env, torch.tensor([bpm]))
    wrong = tempo_log_posterior(env, torch.tensor([bpm * 1.25]))
    assert right.item() > wrong.item() + 1.0, (right, wrong)
    assert right.exp().item() > 0.1  # uniform over the grid would give ~0.03; harmonics share the rest


@pytest.mark.parametrize("bpm", [62.0, 71.0, 84.0, 176.0])
def test_tempo_posterior_peaks_at_the_played_tempo_not_a_multiple(bpm):
    """Slow clicks are heard at their own tempo (as librosa hears them), not at 2x or 3x."""
    env = onset_envelope(clicks(bpm))
    candidates = torch.arange(50.0, 221.0)
    logp = torch.cat([tempo_log_posterior(env, torch.tensor([b])) for b in candidates])
    assert abs(candidates[logp.argmax()].item() / bpm - 1) <= 0.03, candidates[logp.argmax()]


def test_sync_score_rewards_onsets_at_the_events():
    events = torch.tensor([1.0, 3.0, 6.5])
    target = event_train(events, 1024)
    on = torch.full((1, 64, 1024), FLOOR)
    off = on.clone()
    for t in events.tolist():
        on[..., int(t * 100):int(t * 100) + 5] = -2.0
        off[..., int(t * 100) + 40:int(t * 100) + 45] = -2.0  # 0.4 s late
    assert sync_score(on, target).item() > 0.5
    assert sync_score(off, target).item() < 0.1
    assert sync_score(on, torch.zeros(1024)).item() == 0.0  # no events: nothing to score


def test_balance_score_targets_the_slider_difference():
    music = torch.full((1, 64, 200), -3.0)
    sfx = music + math.log(10 ** (6 / 20))  # +6 dB in magnitude
    diff = (stem_loudness_db(sfx) - stem_loudness_db(music)).item()
    assert diff == pytest.approx(6.0, abs=1e-3)
    assert balance_score(music, sfx, torch.tensor([6.0])).item() == pytest.approx(0.0, abs=1e-3)
    assert balance_score(music, sfx, torch.tensor([0.0])).item() == pytest.approx(-1.0, abs=1e-3)
    assert balance_score(music, sfx, torch.tensor([float("nan")])).item() == 0.0


def test_instrument_score_is_highest_for_the_requested_set():
    weights = torch.tensor([[1.0, 0, 0, 0, 0.5, 0, 0, 0, 0, 1.0]])
    good = (weights > 0).float() * 8 - 4  # confident and right
    bad = -good
    assert instrument_score(good, weights).item() > instrument_score(bad, weights).item() + 3


def test_scorer_total_and_gradients_reach_the_mels():
    music = clicks(120.0).requires_grad_(True)
    sfx = clicks(60.0, level=-4.0).requires_grad_(True)
    targets = ScoreTargets.make(tempo_bpm=120, instruments={"piano": 1.0}, balance=0.5, events_s=[1.0, 2.0],
                                n_frames=1024)
    s = Scorer()(music, sfx, targets)
    assert set(s) == {"tempo", "balance", "sync", "total"}  # no CVSM / classifier given: not scored
    s["total"].sum().backward()
    assert music.grad.abs().sum() > 0 and sfx.grad.abs().sum() > 0


def test_balance_weighs_more_in_a_window_without_events():
    """eq. 8b: without events no sync term shapes the effects; the slider's term weighs more."""
    from soundtrack.config import ScoreWeights
    from soundtrack.sampling.scores import ScoreTargets

    kw = dict(tempo_bpm=120, instruments={"piano": 1.0}, balance=0.5, n_frames=1024)
    with_events = ScoreTargets.make(events_s=[1.0], **kw)
    without = ScoreTargets.make(events_s=[], **kw)
    w = ScoreWeights()
    assert with_events.weights == {"tempo": 1.0, "instruments": 1.0, "balance": w.balance, "sync": 2.0,
                                   "cvsm": 2.0, "presence": 1.0, "density": 0.5, "accents": 0.5}
    assert without.weights == {**with_events.weights, "balance": w.balance_no_events}
    assert w.balance_no_events > w.balance
    assert ScoreTargets.make(events_s=[], weights={"balance": 0.2}, **kw).weights == {"balance": 0.2}
    swept = ScoreTargets.make(events_s=[1.0], weights=ScoreWeights(sync=0.5), **kw)  # a sweep's weights
    assert swept.weights["sync"] == 0.5 and swept.weights["tempo"] == 1.0



def test_scores_read_only_the_frames_that_are_heard():
    """eq. 8c: past the video's end the window is cut from the take; SNIO must not score it."""
    kw = dict(tempo_bpm=120, instruments={"piano": 1.0}, balance=0.5, events_s=[1.0, 2.0], n_frames=1024)
    heard = ScoreTargets.make(heard=531, **kw)
    assert ScoreTargets.make(heard=1024, **kw).heard is None  # the whole window: nothing to cut
    with pytest.raises(ValueError, match="heard"):
        ScoreTargets.make(heard=0, **kw)
    music = clicks(120.0).requires_grad_(True)
    sfx = clicks(60.0, level=-4.0).requires_grad_(True)
    s = Scorer()(music, sfx, heard)
    s["total"].sum().backward()
    assert music.grad[..., 531:].abs().sum() == 0 and sfx.grad[..., 531:].abs().sum() == 0
    assert music.grad[..., :531].abs().sum() > 0
    # what is cut does not count: 90 BPM clicks after the end change no score
    tail = clicks(120.0).detach()
    tail[..., 531:] = clicks(90.0)[..., 531:]
    again = Scorer()(tail, sfx.detach(), heard)
    assert all(torch.allclose(s[k], again[k]) for k in ("tempo", "balance"))
    whole = Scorer()(tail, sfx.detach(), ScoreTargets.make(**kw))
    assert not torch.allclose(whole["tempo"], s["tempo"])


def test_a_very_short_heard_part_still_scores_instruments():
    """A video shorter than the classifier's shortest input: it reads that many frames instead."""
    from soundtrack.models.instruments import CLASSIFIER_CONFIGS, MIN_FRAMES, InstrumentClassifier

    torch.manual_seed(0)
    scorer = Scorer(instruments=InstrumentClassifier(CLASSIFIER_CONFIGS["tiny"]))
    targets = ScoreTargets.make(tempo_bpm=120, instruments={"piano": 1.0}, balance=0.5, events_s=[],
                                n_frames=1024, heard=4)
    music = clicks(120.0).requires_grad_(True)
    s = scorer(music, clicks(60.0), targets)
    s["total"].sum().backward()
    assert torch.isfinite(s["total"]).all() and "instruments" in s
    assert music.grad[..., MIN_FRAMES:].abs().sum() == 0 and music.grad[..., 4:MIN_FRAMES].abs().sum() > 0
