"""The six CLAR augmentations: each effect measured on signals where it can be measured."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torchaudio
from scipy.stats import binomtest

from clar.augment import functional as A
from clar.augment import transforms as T
from clar.augment.vocoder import pitch_ratio
from clar.config import AugmentParams
from clar.errors import ClarError
from clar.noise import coloured_noise
from clar.vocabulary import AUGMENTATIONS, BEST_PAIR, FADE_SHAPES

pytestmark = pytest.mark.numeric

SR = 16_000


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Run this module's tensor ops on one thread, then restore the setting.

    These tests are many small ops; on the shared 2-core machine, with another process busy,
    two OpenMP threads wait on each other and the module took 23 s instead of 2 s.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _gen(seed: int = 0, device: str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def _sine(freq: float, batch: int = 1, length: int = SR) -> torch.Tensor:
    t = torch.arange(length) / SR
    return torch.sin(2 * math.pi * freq * t).repeat(batch, 1)


def _peak_hz(x: torch.Tensor) -> torch.Tensor:
    """Frequency of the largest spectral peak per row, on a 0.25 Hz grid. [B, T] -> [B]."""
    length = x.shape[-1]
    spectrum = torch.fft.rfft(x * torch.hann_window(length), n=4 * length).abs()
    return spectrum.argmax(-1).double() * SR / (4 * length)


def _speech_like(batch: int, length: int = SR, seed: int = 1) -> torch.Tensor:
    """A few harmonics under a slow random envelope: structured, non-silent test clips."""
    g = _gen(seed)
    t = torch.arange(length) / SR
    f0 = 100 + 200 * torch.rand(batch, 1, generator=g)
    x = sum(torch.sin(2 * math.pi * k * f0 * t) / k for k in range(1, 6))
    envelope = torch.rand(batch, 8, generator=g)
    envelope = torch.nn.functional.interpolate(envelope[:, None], size=length, mode="linear")
    return 0.3 * x * envelope[:, 0]


# ------------------------------------------------------------------------------------------
# pitch shift


def test_pitch_ratio_is_small_and_close_to_equal_temperament() -> None:
    for s in range(-15, 16):
        p, q = pitch_ratio(float(s))
        assert 1 <= p <= 32 and 1 <= q <= 32 and math.gcd(p, q) == 1
        cents = 1200 * math.log2(p / q / 2 ** (s / 12))
        assert abs(cents) <= 5.0, (s, p, q, cents)
    assert pitch_ratio(12.0) == (2, 1) and pitch_ratio(-7.0) == (2, 3)


def test_pitch_shift_moves_a_sine_by_the_bucket_ratio_and_keeps_length() -> None:
    semitones = torch.tensor([-15.0, -7.0, -1.0, 4.0, 12.0, 15.0])
    x = _sine(500.0, batch=len(semitones))
    y = A.pitch_shift(x, draw=semitones)
    assert y.shape == x.shape
    expected = torch.tensor([500.0 * p / q for p, q in map(pitch_ratio, semitones.tolist())])
    assert torch.allclose(_peak_hz(y), expected.double(), atol=0.5), (_peak_hz(y), expected)
    # the level of a steady tone survives (the vocoder's phase is anchored inside the clip)
    rms = y[:, 1000:-1000].pow(2).mean(-1).sqrt()
    assert torch.allclose(rms, torch.full_like(rms, math.sqrt(0.5)), rtol=0.05), rms


def test_pitch_shift_draws_whole_semitones_and_zero_is_identity() -> None:
    drawn = A.draw_pitch_shift(4000, _gen(), max_semitones=15.0, buckets=31)
    assert set(drawn.tolist()) == {float(s) for s in range(-15, 16)}
    x = _speech_like(3)
    y = A.pitch_shift(x, draw=torch.tensor([0.0, 5.0, 0.0]))
    assert torch.equal(y[0], x[0]) and torch.equal(y[2], x[2]) and not torch.equal(y[1], x[1])


# ------------------------------------------------------------------------------------------
# time stretch


def test_time_stretch_scales_a_burst_duration_and_keeps_its_frequency() -> None:
    t = torch.arange(SR) / SR
    burst = torch.sin(2 * math.pi * 1000 * t) * ((t >= 0.1) & (t < 0.35))
    rates = torch.tensor([0.5, 0.8, 1.0, 1.25, 1.5])
    y = A.time_stretch(burst.repeat(len(rates), 1), draw=rates)
    assert y.shape == (len(rates), SR)
    frame = 80  # 5 ms envelope frames
    envelope = y.reshape(len(rates), -1, frame).pow(2).mean(-1).sqrt()
    on = envelope > 0.5 * envelope.amax(-1, keepdim=True)
    for rate, row_on in zip(rates.tolist(), on, strict=True):
        frames = row_on.nonzero().squeeze(1)
        start, end = frames[0].item() * frame / SR, (frames[-1].item() + 1) * frame / SR
        assert end - start == pytest.approx(0.25 / rate, abs=0.015)
        assert start == pytest.approx(0.1 / rate, abs=0.015)
    assert torch.allclose(_peak_hz(y), torch.full((len(rates),), 1000.0).double(), atol=0.5)


def test_time_stretch_pads_with_silence_when_speeding_up() -> None:
    x = _sine(440.0, batch=2)
    y = A.time_stretch(x, draw=torch.tensor([1.5, 0.5]))
    assert y[0, int(SR / 1.5) + 600 :].abs().max() < 1e-3  # after the content: zeros
    assert y[1, -2000:].pow(2).mean().sqrt() > 0.6  # slowed down: cut, still full level


def test_time_stretch_rates_are_in_range_and_bucketable() -> None:
    rates = A.draw_time_stretch(1000, _gen(), 0.5, 1.5)
    assert rates.min() >= 0.5 and rates.max() <= 1.5 and len(set(rates.tolist())) > 900
    levels = A.draw_time_stretch(1000, _gen(), 0.5, 1.5, buckets=11)
    assert torch.allclose(levels * 10, (levels * 10).round(), atol=1e-5)


# ------------------------------------------------------------------------------------------
# fade


def test_fade_envelope_has_the_drawn_length_and_shape() -> None:
    length = 4000
    draw = A.draw_fade(30, length, _gen(), max_fraction=0.5)
    assert draw.fade_in.max() <= length // 2 and draw.fade_out.max() <= length // 2
    assert set(draw.shape.tolist()) == {0, 1, 2}
    y = A.fade(torch.ones(30, length), draw=draw)
    for row, fin, fout, shape in zip(y, *draw, strict=True):
        name = FADE_SHAPES[shape]
        reference = torchaudio.transforms.Fade(int(fin), int(fout), name)(torch.ones(length))
        torch.testing.assert_close(row, reference, atol=1e-5, rtol=0)
        # the ramps start (end) at silence and stop exactly at the drawn lengths
        assert torch.all(row[int(fin) : length - int(fout)] == 1.0)
        assert (fin == 0 or row[0] < 1e-6) and (fout == 0 or row[-1] < 1e-6)
        if name != "logarithmic" and fin > 1:  # log10(0.1 + u) + 1 reaches 1 at u = 0.9
            assert row[int(fin) - 2] < 1.0
    # a 1000-sample linear fade-in is halfway up halfway through
    half = A.FadeDraw(torch.tensor([1001]), torch.tensor([0]), torch.tensor([0]))
    assert A.fade_envelope(half, length)[0, 500].item() == pytest.approx(0.5)


# ------------------------------------------------------------------------------------------
# noise


def test_noise_lands_at_the_drawn_snr() -> None:
    g = _gen()
    x = _speech_like(60) * torch.logspace(-2, 0, 60)[:, None]
    draw = A.draw_noise(60, g, 0.0, 20.0)
    assert set(draw.colour.tolist()) == {0, 1, 2}
    assert draw.snr_db.min() >= 0.0 and draw.snr_db.max() <= 20.0
    y = A.noise(x, g, draw=draw)
    realised = 10 * torch.log10(x.pow(2).mean(-1) / (y - x).pow(2).mean(-1))
    assert (realised - draw.snr_db).abs().max() < 0.5


@pytest.mark.parametrize(("colour", "slope"), [(0, 0.0), (1, -3.01), (2, -6.02)])
def test_noise_colour_spectral_slope(colour: int, slope: float) -> None:
    white = torch.randn(64, SR, generator=_gen())
    n = coloured_noise(white, torch.full((64,), float(colour)))
    assert torch.allclose(n.pow(2).mean(-1), torch.ones(64), atol=1e-4)
    power = torch.fft.rfft(n).abs().pow(2).mean(0)
    freq = torch.arange(power.shape[0]) * SR / n.shape[-1]
    band = (freq >= 50) & (freq <= 5000)
    octaves, db = torch.log2(freq[band]), 10 * torch.log10(power[band])
    fitted = torch.linalg.lstsq(torch.stack([octaves, torch.ones_like(octaves)], 1), db[:, None])
    assert fitted.solution[0].item() == pytest.approx(slope, abs=0.5)


def test_coloured_noise_is_one_computation_for_numpy_and_torch() -> None:
    """The stand-in data sets shape numpy noise, the augmentation shapes tensors: same result."""
    white = np.random.default_rng(0).standard_normal((3, 4000))
    exponents = np.array([0.0, 1.0, 2.0])
    from_numpy = coloured_noise(white, exponents)
    from_torch = coloured_noise(torch.from_numpy(white), torch.from_numpy(exponents))
    assert isinstance(from_numpy, np.ndarray) and from_torch.dtype == torch.float64
    np.testing.assert_allclose(from_numpy, from_torch.numpy(), rtol=0, atol=1e-9)
    # white noise stays white: shaping with exponent 0 only rescales it
    np.testing.assert_allclose(from_numpy[0] / from_numpy[0].std(), white[0] / white[0].std())


# ------------------------------------------------------------------------------------------
# time mask and time shift


def test_time_mask_replaces_exactly_the_drawn_segment() -> None:
    g = _gen()
    x = torch.full((20, SR), 3.0)
    starts = A.draw_time_mask(20, SR, g, fraction=0.125)
    y = A.time_mask(x, g, fraction=0.125, std=0.1, draw=starts)
    width = SR // 8
    for row, start in zip(y, starts.tolist(), strict=True):
        changed = (row != 3.0).nonzero().squeeze(1)
        assert changed[0].item() == start and changed[-1].item() == start + width - 1
        assert len(changed) == width
    filled = y[y != 3.0]
    assert filled.std().item() == pytest.approx(0.1, rel=0.05)
    assert abs(filled.mean().item()) < 0.01
    assert starts.min() >= 0 and starts.max() <= SR - width
    assert AugmentParams().mask_std == 0.01  # the official np.random.normal(0, 0.01): std


def test_time_shift_rolls_by_the_drawn_amount() -> None:
    g = _gen()
    x = torch.randn(50, 1000, generator=_gen(3))
    shifts = A.draw_time_shift(50, 1000, g, max_fraction=0.5)
    assert shifts.min() >= -500 and shifts.max() <= 500 and (shifts < 0).any()
    y = A.time_shift(x, draw=shifts)
    for row, orig, s in zip(y, x, shifts.tolist(), strict=True):
        assert torch.equal(row, torch.roll(orig, s))


# ------------------------------------------------------------------------------------------
# composition


def test_paper_order_and_params_defaults() -> None:
    assert AUGMENTATIONS == (
        "fade",
        "time_mask",
        "time_stretch",
        "pitch_shift",
        "time_shift",
        "noise",
    )
    p = AugmentParams()
    assert p.probability == 0.5 and p.pitch_max_semitones == 15.0
    assert p.identical_views == "keep"  # the official RandomApply, pairs as drawn
    assert (p.stretch_min_rate, p.stretch_max_rate) == (0.5, 1.5)
    assert (p.noise_min_snr_db, p.noise_max_snr_db) == (0.0, 20.0)
    assert p.fade_shapes == ("linear", "logarithmic", "exponential")
    assert (p.mask_fraction, p.shift_max_fraction, p.fade_max_fraction) == (0.125, 0.5, 0.5)


@pytest.mark.parametrize("names", [(n,) for n in AUGMENTATIONS] + [AUGMENTATIONS])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_shape_dtype_device_and_finite(names: tuple[str, ...], dtype: torch.dtype) -> None:
    x = _speech_like(6, 8000).to(dtype)
    y = T.augment(x, names, _gen(), AugmentParams(probability=1.0))
    assert y.shape == x.shape and y.dtype == dtype and y.device == x.device
    assert torch.isfinite(y).all()


def test_cpu_autocast_leaves_the_dsp_in_float32() -> None:
    x = _speech_like(4, 8000)
    params = AugmentParams(probability=1.0)
    plain = T.augment(x, AUGMENTATIONS, _gen(), params)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = T.augment(x, AUGMENTATIONS, _gen(), params)
    assert autocast.dtype == torch.float32
    torch.testing.assert_close(autocast, plain)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_cuda_with_a_cuda_generator() -> None:
    x = _speech_like(8, 8000).cuda()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        y = T.augment(x, AUGMENTATIONS, _gen(0, "cuda"), AugmentParams(probability=1.0))
    assert y.device == x.device and y.dtype == x.dtype and torch.isfinite(y).all()


def test_seeded_generator_is_deterministic_and_views_are_independent() -> None:
    x = _speech_like(8, 8000)
    params = AugmentParams(probability=1.0)
    a = T.augment(x, AUGMENTATIONS, _gen(7), params)
    b = T.augment(x, AUGMENTATIONS, _gen(7), params)
    c = T.augment(x, AUGMENTATIONS, _gen(8), params)
    assert torch.equal(a, b) and not torch.allclose(a, c)
    g = _gen(7)
    view1, view2 = (
        T.augment(x, AUGMENTATIONS, g, params),
        T.augment(x, AUGMENTATIONS, g, params),
    )
    assert torch.equal(view1, a) and not torch.allclose(view1, view2)


def test_probability_zero_is_identity_and_one_changes_every_example() -> None:
    x = _speech_like(16, 8000)
    same = T.augment(x, AUGMENTATIONS, _gen(), AugmentParams(probability=0.0))
    assert torch.equal(same, x)
    changed = T.augment(x, AUGMENTATIONS, _gen(), AugmentParams(probability=1.0))
    assert (changed != x).any(-1).all()
    # these three change an example whatever is drawn
    for name in ("fade", "time_mask", "noise"):
        y = T.augment(x, [name], _gen(), AugmentParams(probability=1.0))
        assert (y != x).any(-1).all(), name


def test_probability_half_computes_only_the_selected_rows(monkeypatch) -> None:
    seen: list[int] = []
    apply = T._APPLY["time_mask"]

    def spy(x: torch.Tensor, g: torch.Generator, p: AugmentParams) -> torch.Tensor:
        seen.append(x.shape[0])
        return apply(x, g, p)

    monkeypatch.setitem(T._APPLY, "time_mask", spy)
    x = _speech_like(64, 4000)
    y = T.augment(x, ["time_mask"], _gen(), AugmentParams(probability=0.5))
    rows_changed = (y != x).any(-1)
    assert seen == [int(rows_changed.sum())]
    assert 16 <= seen[0] <= 48
    # the untouched rows are bit-identical
    assert torch.equal(y[~rows_changed], x[~rows_changed])


def test_order_of_names_does_not_matter_and_module_matches_function() -> None:
    x = _speech_like(4, 8000)
    params = AugmentParams(probability=1.0)
    a = T.augment(x, ["noise", "fade", "time_shift"], _gen(), params)
    b = T.augment(x, ["fade", "time_shift", "noise"], _gen(), params)
    module = T.Augment(["time_shift", "noise", "fade"], params)
    assert torch.equal(a, b) and torch.equal(module(x, _gen()), a)
    assert not list(module.parameters()) and "time_shift" in repr(module)


def test_unknown_name_is_a_one_line_clar_error() -> None:
    for call in (
        lambda: T.augment(torch.zeros(2, 100), ["fade", "reverb"], _gen()),
        lambda: T.Augment(["reverb"]),
    ):
        with pytest.raises(ClarError) as err:
            call()
        message = str(err.value)
        assert "'reverb'" in message and all(n in message for n in AUGMENTATIONS)
        assert "\n" not in message


# ------------------------------------------------------------------------------------------
# positive pairs: identical views


def _pairs(names: tuple[str, ...], params: AugmentParams, seed: int = 3, n: int = 4000):
    """n clips, two views each: (clips, view 1, view 2), each [n, 400]."""
    x = _speech_like(n, 400)
    first, second = T.augment(x, names, _gen(seed), params, 2).chunk(2)
    return x, first, second


@pytest.mark.parametrize("names", [BEST_PAIR, ("time_mask",)])
def test_keep_leaves_identical_pairs_at_the_rate_of_the_coins(names: tuple[str, ...]) -> None:
    x, first, second = _pairs(names, AugmentParams())
    # A view is its clip when every one of its k coins fails: (1 - p)^k; a pair, squared.
    untouched = 0.5 ** len(names)
    for view in (first, second):
        assert binomtest(int((view == x).all(-1).sum()), len(x), untouched).pvalue > 1e-3
    same = int((first == second).all(-1).sum())
    assert binomtest(same, len(x), untouched**2).pvalue > 1e-3, same


@pytest.mark.parametrize("names", [BEST_PAIR, ("time_mask",)])
def test_redraw_leaves_no_identical_pair_and_treats_both_views_alike(
    names: tuple[str, ...],
) -> None:
    params = AugmentParams(identical_views="redraw")
    x, first, second = _pairs(names, params)
    assert not (first == second).all(-1).any()
    # Redrawing the whole pair keeps the views exchangeable: each is its clip with probability
    # q (1 - q) / (1 - q^2) = q / (1 + q), q = (1 - p)^k.
    q = 0.5 ** len(names)
    for view in (first, second):
        assert binomtest(int((view == x).all(-1).sum()), len(x), q / (1 + q)).pvalue > 1e-3
    _, again, _ = _pairs(names, params)
    assert torch.equal(again, first)  # deterministic under the generator


def test_redraw_without_any_augmentation_to_draw_is_a_one_line_error() -> None:
    x = _speech_like(4, 400)
    for names, probability in ((BEST_PAIR, 0.0), ((), 0.5)):
        params = AugmentParams(probability=probability, identical_views="redraw")
        with pytest.raises(ClarError, match="identical_views") as err:
            T.augment(x, names, _gen(), params, 2)
        assert "\n" not in str(err.value)
    # One view per clip has no pair to redraw.
    assert torch.equal(T.augment(x, (), _gen(), params), x)
