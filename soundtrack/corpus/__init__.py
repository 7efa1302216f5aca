"""The offline training corpus: procedural scenes whose sound is true to the picture.

`python -m soundtrack.corpus build --out DIR --n N --seed S` writes DIR/<split>/<item>/ with
video.mp4, music.wav, sfx.wav, mix.wav and labels.json; `python -m soundtrack.corpus verify
DIR` checks that the labels are true (docs/DATA.md).
"""
