"""Audio: the log-mel front end (``mel``), file I/O (``io``) and the stereo mix (``mix``).

Import the submodules directly; this package imports nothing, so reading a WAV file does
not pull in torch.
"""
