"""The six waveform augmentations of CLAR, batched, on whatever device the batch is on.

Split as torchaudio splits ``functional`` from ``transforms``:

- :mod:`clar.augment.functional`: each augmentation a pure function ``f(waveform [B, T],
  generator, ...) -> [B, T]`` with a ``draw_*`` companion for its per-example parameters;
- :mod:`clar.augment.vocoder`: the batched phase vocoder under pitch shift and time stretch;
- :mod:`clar.augment.transforms`: :func:`~clar.augment.transforms.augment` applies the selected
  ones in the paper's order, each to a random sub-batch, with the ranges of
  :class:`clar.config.AugmentParams`; :class:`~clar.augment.transforms.Augment` is its module.

Choices where the paper text and the official code (``utils.py`` of haideraltahan/CLAR) differ or
are silent:

- pitch shift: whole semitones in [-15, 15] like the official code (``randint`` of semitones;
  its ``randint(-15, 15)`` never draws +15, we keep the range symmetric).
  Each semitone value is a *bucket* whose ratio is the closest rational ``p/q`` with
  ``p, q <= 32`` to ``2**(s/12)`` (at most 5 cents off), so that resampling by ``p/q`` uses a tiny
  polyphase kernel; an arbitrary ratio makes torchaudio build a ~1 GB kernel.
- time stretch: the official code resamples the stretched clip back to the clip length, which
  undoes the stretch and turns it into a pitch change; we follow the paper text (stretch, then
  zero-pad or cut on the right). The rate is continuous: our phase vocoder takes one rate per
  example, so no buckets are needed (``buckets=`` quantises the rate if one wants them).
- time mask: exactly ``fraction * T`` samples (official code), filled with N(0, std^2) noise.
  The official ``np.random.normal(0, 0.01, n)`` passes 0.01 as the *standard deviation*, so the
  default is ``std = 0.01`` (variance 1e-4), not variance 0.01. (The official ``time_masking``
  also flips its own inner coin, so there it hits a quarter of the views, not half.)
- noise: white, pink (1/f power, -3 dB/octave) or brown (1/f^2, -6 dB/octave) noise, shaped from
  white Gaussian noise in the rFFT domain (:func:`clar.noise.coloured_noise`, which the
  generated stand-in data sets share), scaled so that the realised noise has exactly the drawn
  SNR against the clip's mean power; SNR uniform in [0, 20] dB.
- fade: shapes as ``torchaudio.transforms.Fade`` defines them; the paper's three by default (the
  official code also draws quarter-sine and half-sine, available through ``shapes=``).
"""
