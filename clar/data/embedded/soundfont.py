"""A minimal SoundFont 2 reader and one-note renderer, numpy only (for e.g. TimGM6mb.sf2).

Enough of the SF2 2.04 specification to play a single note of a bank-0 preset: the sample pool,
the preset -> instrument -> sample zone hierarchy with global zones, key and velocity ranges,
tuning, sample offsets, loop modes, the volume envelope and the initial low-pass cutoff. Not
modelled: modulators other than the two default velocity ones, LFOs, the modulation envelope,
chorus, reverb and stereo panning (stereo pairs are mixed to mono).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from clar.errors import ClarError

# Generator operators (SF2 2.04, section 8.1.2) used here.
_START_OFS, _END_OFS, _LOOP_START_OFS, _LOOP_END_OFS = 0, 1, 2, 3
_START_COARSE, _END_COARSE = 4, 12
_FILTER_FC = 8
_ATTENUATION = 48
_DELAY_VOL, _ATTACK_VOL, _HOLD_VOL, _DECAY_VOL, _SUSTAIN_VOL, _RELEASE_VOL = 33, 34, 35, 36, 37, 38
_KEY_TO_HOLD, _KEY_TO_DECAY = 39, 40
_INSTRUMENT, _KEY_RANGE, _VEL_RANGE = 41, 43, 44
_LOOP_START_COARSE, _LOOP_END_COARSE = 45, 50
_COARSE_TUNE, _FINE_TUNE, _SAMPLE_ID, _SAMPLE_MODES = 51, 52, 53, 54
_SCALE_TUNING, _ROOT_KEY = 56, 58

_RANGES = (_KEY_RANGE, _VEL_RANGE)
# Generators that only mean something at instrument level; the spec says to ignore them in presets.
_INSTRUMENT_ONLY = frozenset(
    {
        _START_OFS,
        _END_OFS,
        _LOOP_START_OFS,
        _LOOP_END_OFS,
        _START_COARSE,
        _END_COARSE,
        _LOOP_START_COARSE,
        _LOOP_END_COARSE,
        _SAMPLE_MODES,
        _ROOT_KEY,
        46,
        47,
        57,
    }
)
_DEFAULTS = {
    _FILTER_FC: 13500,
    _DELAY_VOL: -12000,
    _ATTACK_VOL: -12000,
    _HOLD_VOL: -12000,
    _DECAY_VOL: -12000,
    _RELEASE_VOL: -12000,
    _SCALE_TUNING: 100,
    _ROOT_KEY: -1,
}
_ROM_SAMPLE = 0x8000


@dataclass(frozen=True)
class Sample:
    """One sample header: offsets into the sample pool (in samples), rate and pitch data."""

    name: str
    start: int
    end: int
    loop_start: int
    loop_end: int
    sample_rate: int
    original_pitch: int
    pitch_correction: int
    sample_type: int


@dataclass(frozen=True)
class Zone:
    """The merged generators of one (preset zone, instrument zone) pair that can sound a note.

    Times are in seconds, levels in centibels of attenuation, pitches in cents or MIDI keys.
    """

    sample: Sample
    key_range: tuple[int, int]
    vel_range: tuple[int, int]
    root_key: int
    tune_cents: float
    scale_tuning: float
    loop_mode: int
    start: int
    end: int
    loop_start: int
    loop_end: int
    attenuation_cb: float
    filter_fc_cents: float
    delay: float
    attack: float
    hold: float
    decay: float
    sustain_cb: float
    release: float
    key_to_hold: float
    key_to_decay: float


@dataclass(frozen=True)
class SoundFont:
    """A parsed SoundFont: the sample pool as float32 in [-1, 1) and zones per (bank, program)."""

    pool: np.ndarray
    names: dict[tuple[int, int], str]
    zones: dict[tuple[int, int], tuple[Zone, ...]]

    def programs(self, bank: int = 0) -> tuple[int, ...]:
        """The program numbers present in a bank, ascending."""
        return tuple(sorted(p for b, p in self.zones if b == bank))

    def matching(self, program: int, key: int, velocity: int, bank: int = 0) -> list[Zone]:
        """The zones a note-on (key, velocity) of a preset triggers (empty if none)."""
        zones = self.zones.get((bank, program))
        if zones is None:
            raise ClarError(f"SoundFont has no preset bank {bank} program {program}")
        return [
            z
            for z in zones
            if z.key_range[0] <= key <= z.key_range[1]
            and z.vel_range[0] <= velocity <= z.vel_range[1]
        ]


def _chunks(data: bytes, start: int, end: int) -> dict[str, tuple[int, int]]:
    """RIFF sub-chunks between start and end: id (LIST chunks by their list type) -> span."""
    found: dict[str, tuple[int, int]] = {}
    pos = start
    while pos + 8 <= end:
        cid = data[pos : pos + 4].decode("latin-1")
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body = pos + 8
        if cid == "LIST":
            found[data[body : body + 4].decode("latin-1")] = (body + 4, body + size)
        else:
            found[cid] = (body, body + size)
        pos = body + size + (size & 1)  # chunks are word aligned
    return found


def _records(data: bytes, span: tuple[int, int], dtype: np.dtype) -> np.ndarray:
    return np.frombuffer(data[span[0] : span[1]], dtype=dtype)


_BAG = np.dtype([("gen", "<u2"), ("mod", "<u2")])
_GEN = np.dtype([("oper", "<u2"), ("amount", "<i2")])
_PHDR = np.dtype(
    [
        ("name", "S20"),
        ("preset", "<u2"),
        ("bank", "<u2"),
        ("bag", "<u2"),
        ("library", "<u4"),
        ("genre", "<u4"),
        ("morphology", "<u4"),
    ]
)
_INST = np.dtype([("name", "S20"), ("bag", "<u2")])
_SHDR = np.dtype(
    [
        ("name", "S20"),
        ("start", "<u4"),
        ("end", "<u4"),
        ("loop_start", "<u4"),
        ("loop_end", "<u4"),
        ("rate", "<u4"),
        ("pitch", "u1"),
        ("correction", "i1"),
        ("link", "<u2"),
        ("type", "<u2"),
    ]
)


def _zone_gens(bags: np.ndarray, gens: np.ndarray, first: int, stop: int) -> list[dict[int, int]]:
    """Generators of the zones with bag indices [first, stop): one {oper: amount} per zone.

    Ranges are stored as the raw 16-bit word; callers split them into (low, high) bytes.
    """
    zones = []
    for b in range(first, stop):
        g0, g1 = int(bags["gen"][b]), int(bags["gen"][b + 1])
        zones.append(
            {
                int(o): int(a)
                for o, a in zip(gens["oper"][g0:g1], gens["amount"][g0:g1], strict=True)
            }
        )
    return zones


def _split_globals(zones: list[dict[int, int]], terminal: int) -> tuple[dict[int, int], list]:
    """(global zone, local zones): a first zone without the terminal generator is global."""
    if zones and terminal not in zones[0]:
        return zones[0], [z for z in zones[1:] if terminal in z]
    return {}, [z for z in zones if terminal in z]


def _range(word: int | None) -> tuple[int, int]:
    if word is None:
        return 0, 127
    raw = word & 0xFFFF
    return raw & 0xFF, raw >> 8


def _intersect(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    return max(a[0], b[0]), min(a[1], b[1])


def _seconds(timecents: float) -> float:
    return float(2.0 ** (timecents / 1200.0))


def _merge(preset: dict[int, int], inst: dict[int, int], sample: Sample) -> Zone | None:
    """One playable zone from merged preset-level (additive) and instrument-level generators."""
    key_range = _intersect(_range(preset.get(_KEY_RANGE)), _range(inst.get(_KEY_RANGE)))
    vel_range = _intersect(_range(preset.get(_VEL_RANGE)), _range(inst.get(_VEL_RANGE)))
    if key_range[0] > key_range[1] or vel_range[0] > vel_range[1]:
        return None

    def value(op: int) -> float:
        base = inst.get(op, _DEFAULTS.get(op, 0))
        return base if op in _INSTRUMENT_ONLY else base + preset.get(op, 0)

    root = int(inst.get(_ROOT_KEY, -1))
    if not 0 <= root <= 127:
        root = sample.original_pitch if sample.original_pitch <= 127 else 60
    start = sample.start + inst.get(_START_OFS, 0) + 32768 * inst.get(_START_COARSE, 0)
    end = sample.end + inst.get(_END_OFS, 0) + 32768 * inst.get(_END_COARSE, 0)
    loop_start = (
        sample.loop_start + inst.get(_LOOP_START_OFS, 0) + 32768 * inst.get(_LOOP_START_COARSE, 0)
    )
    loop_end = sample.loop_end + inst.get(_LOOP_END_OFS, 0) + 32768 * inst.get(_LOOP_END_COARSE, 0)
    if end - start < 2:
        return None
    return Zone(
        sample=sample,
        key_range=key_range,
        vel_range=vel_range,
        root_key=root,
        tune_cents=100.0 * value(_COARSE_TUNE) + value(_FINE_TUNE) + sample.pitch_correction,
        scale_tuning=float(value(_SCALE_TUNING)),
        loop_mode=int(inst.get(_SAMPLE_MODES, 0)) & 3,
        start=start,
        end=end,
        loop_start=loop_start,
        loop_end=loop_end,
        attenuation_cb=float(value(_ATTENUATION)),
        filter_fc_cents=float(value(_FILTER_FC)),
        delay=_seconds(value(_DELAY_VOL)),
        attack=_seconds(value(_ATTACK_VOL)),
        hold=_seconds(value(_HOLD_VOL)),
        decay=_seconds(value(_DECAY_VOL)),
        sustain_cb=float(np.clip(value(_SUSTAIN_VOL), 0, 1440)),
        release=_seconds(value(_RELEASE_VOL)),
        key_to_hold=float(value(_KEY_TO_HOLD)),
        key_to_decay=float(value(_KEY_TO_DECAY)),
    )


def parse(data: bytes) -> SoundFont:
    """Parse the bytes of an .sf2 file (RIFF sfbk). Raises ClarError if it is not one."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise ClarError("not a SoundFont 2 file (no RIFF sfbk header)")
    top = _chunks(data, 12, len(data))
    if "sdta" not in top or "pdta" not in top:
        raise ClarError("SoundFont lacks its sdta or pdta list")
    sdta = _chunks(data, *top["sdta"])
    pdta = _chunks(data, *top["pdta"])
    missing = {"phdr", "pbag", "pgen", "inst", "ibag", "igen", "shdr"} - pdta.keys()
    if "smpl" not in sdta or missing:
        raise ClarError(f"SoundFont lacks chunks: {sorted(missing | ({'smpl'} - sdta.keys()))}")
    pool = _records(data, sdta["smpl"], np.dtype("<i2")).astype(np.float32) / 32768.0

    phdr = _records(data, pdta["phdr"], _PHDR)
    pbag = _records(data, pdta["pbag"], _BAG)
    pgen = _records(data, pdta["pgen"], _GEN)
    inst = _records(data, pdta["inst"], _INST)
    ibag = _records(data, pdta["ibag"], _BAG)
    igen = _records(data, pdta["igen"], _GEN)
    shdr = _records(data, pdta["shdr"], _SHDR)
    samples = [
        Sample(
            s["name"].split(b"\0")[0].decode("latin-1"),
            int(s["start"]),
            int(s["end"]),
            int(s["loop_start"]),
            int(s["loop_end"]),
            int(s["rate"]),
            int(s["pitch"]),
            int(s["correction"]),
            int(s["type"]),
        )
        for s in shdr[:-1]  # the last record is the terminal "EOS"
    ]

    # Instrument zones, each with its instrument's global zone folded in (local overrides global).
    inst_zones: list[list[dict[int, int]]] = []
    for i in range(len(inst) - 1):
        zones = _zone_gens(ibag, igen, int(inst["bag"][i]), int(inst["bag"][i + 1]))
        glob, local = _split_globals(zones, _SAMPLE_ID)
        inst_zones.append([{**glob, **z} for z in local])

    names: dict[tuple[int, int], str] = {}
    presets: dict[tuple[int, int], tuple[Zone, ...]] = {}
    for p in range(len(phdr) - 1):
        key = (int(phdr["bank"][p]), int(phdr["preset"][p]))
        zones = _zone_gens(pbag, pgen, int(phdr["bag"][p]), int(phdr["bag"][p + 1]))
        glob, local = _split_globals(zones, _INSTRUMENT)
        merged: list[Zone] = []
        for pz in local:
            pz = {**glob, **pz}
            index = pz[_INSTRUMENT]
            if not 0 <= index < len(inst_zones):
                continue
            for iz in inst_zones[index]:
                sid = iz[_SAMPLE_ID]
                if not 0 <= sid < len(samples) or samples[sid].sample_type & _ROM_SAMPLE:
                    continue
                zone = _merge(pz, iz, samples[sid])
                if zone is not None:
                    merged.append(zone)
        names[key] = phdr["name"][p].split(b"\0")[0].decode("latin-1")
        presets[key] = tuple(merged)
    return SoundFont(pool=pool, names=names, zones=presets)


@lru_cache(maxsize=4)
def load(path: str | Path) -> SoundFont:
    """Parse an .sf2 file (cached: the same path is read once per process)."""
    path = Path(path)
    if not path.is_file():
        raise ClarError(f"SoundFont not found: {path}")
    return parse(path.read_bytes())


def _lowpass_fft(x: np.ndarray, cutoff: float) -> np.ndarray:
    """Zero-phase low-pass at `cutoff` cycles/sample (0 < cutoff < 0.5). x: (n,) -> (n,).

    The response falls as a raised cosine over the last 15 % below the cutoff (a brick wall
    would ring), and x is zero-padded so the filter does not wrap its end onto its start.
    """
    n = len(x)
    padded = np.pad(x, (0, min(n, 4096)))
    freqs = np.fft.rfftfreq(len(padded))
    edge = 0.85 * cutoff
    ramp = np.clip((freqs - edge) / (cutoff - edge), 0.0, 1.0)
    spectrum = np.fft.rfft(padded) * (0.5 + 0.5 * np.cos(np.pi * ramp))
    return np.fft.irfft(spectrum, n=len(padded))[:n]


def _crossfade_loop(source: np.ndarray, lo: int, hi: int, length: int = 256) -> np.ndarray:
    """Blend the end of the loop [lo, hi) into what precedes its start, so the jump back is
    seamless. Some loops in small General MIDI fonts (TimGM6mb's whistle and choirs) do not meet
    and would click once per loop. source: (n,) -> a modified copy."""
    x = min(length, lo, (hi - lo) // 2)
    if x < 8 or hi > len(source):
        return source
    out = source.copy()
    w = np.linspace(0.0, 1.0, x, endpoint=False)
    out[hi - x : hi] = (1.0 - w) * source[hi - x : hi] + w * source[lo - x : lo]
    if hi < len(out):
        out[hi] = source[lo]  # the point the interpolation reads just before wrapping
    return out


def _positions(zone: Zone, step: float, n: int, release_at: int) -> np.ndarray:
    """Read positions (in samples, relative to zone.start) for n output samples; -1 past the end.

    step is source samples per output sample. Loop modes: 1 loops for the whole note, 3 loops
    while the key is held and then plays on to the sample's end, 0 and 2 play through once.
    """
    raw = step * np.arange(n, dtype=np.float64)
    length = zone.end - zone.start
    lo, hi = zone.loop_start - zone.start, zone.loop_end - zone.start
    looping = zone.loop_mode in (1, 3) and 0 <= lo < hi <= length and hi - lo >= 2
    if looping:
        span = hi - lo
        wrapped = np.where(raw >= lo, lo + np.mod(raw - lo, span), raw)
        if zone.loop_mode == 3 and release_at < n:
            # After note-off the read head leaves the loop and runs through the tail.
            wrapped[release_at:] = wrapped[release_at] + (raw[release_at:] - raw[release_at])
        raw = wrapped
    past = raw > length - 1
    if looping:
        # Inside the loop the read head never passes loop_end (render_zone makes the sample at
        # loop_end readable even when the loop ends the sample), only a mode-3 tail can.
        past &= np.arange(n) >= (release_at if zone.loop_mode == 3 else n)
    raw[past] = -1.0
    return raw


def envelope(zone: Zone, key: int, n: int, release_at: int, sample_rate: int) -> np.ndarray:
    """The SF2 volume envelope as linear gain, shape (n,).

    Delay, a linear attack, hold, then a fall linear in dB (100 dB per `decay` seconds) to the
    sustain level; at note-off (sample `release_at`) a fall of 100 dB per `release` seconds.
    """
    t = np.arange(n, dtype=np.float64) / sample_rate
    hold = zone.hold * 2.0 ** ((60 - key) * zone.key_to_hold / 1200.0)
    decay = zone.decay * 2.0 ** ((60 - key) * zone.key_to_decay / 1200.0)
    t1 = zone.delay
    t2 = t1 + zone.attack
    t3 = t2 + hold
    sustain_db = -zone.sustain_cb / 10.0
    db = np.maximum(-(t - t3) / max(decay, 1e-4) * 100.0, sustain_db)
    db = np.where(t < t3, 0.0, db)
    gain = 10.0 ** (db / 20.0)
    gain = np.where(t < t2, np.clip((t - t1) / max(zone.attack, 1e-4), 0.0, 1.0), gain)
    if release_at < n:
        level_db = 20.0 * np.log10(max(gain[release_at], 1e-5))
        tr = t[release_at:] - t[release_at]
        rel_db = level_db - tr / max(zone.release, 1e-3) * 100.0
        gain[release_at:] = np.where(rel_db > -100.0, 10.0 ** (rel_db / 20.0), 0.0)
    return gain


def render_zone(
    sf: SoundFont,
    zone: Zone,
    key: int,
    velocity: int,
    n: int,
    release_at: int,
    sample_rate: int = 16000,
) -> np.ndarray:
    """One zone's contribution to a note: float64 (n,), before any normalisation (float64 for
    the reason :mod:`clar.data.embedded.dsp` gives).

    The note is held for release_at samples, then released.
    """
    cents = (key - zone.root_key) * zone.scale_tuning + zone.tune_cents
    step = 2.0 ** (cents / 1200.0) * zone.sample.sample_rate / sample_rate
    source = sf.pool[zone.start : zone.end].astype(np.float64)
    if step > 1.0:
        # Playing faster than the output rate would alias everything above the new Nyquist.
        source = _lowpass_fft(source, 0.5 / step)
    if zone.loop_mode in (1, 3):
        lo, hi = zone.loop_start - zone.start, zone.loop_end - zone.start
        if 0 <= lo < hi == len(source):
            source = np.append(source, source[lo])
        # After the filter: the splice is a step the filter would smear back into the loop.
        source = _crossfade_loop(source, lo, hi)
    pos = _positions(zone, step, n, release_at)
    out = np.interp(pos, np.arange(len(source), dtype=np.float64), source, left=0.0, right=0.0)
    out[pos < 0] = 0.0
    out = out * envelope(zone, key, n, release_at, sample_rate)

    # Default modulators: velocity attenuates (the concave curve is close to gain ~ vel^2) and
    # closes the filter. Attenuation is scaled by 0.4 as in E-mu hardware and FluidSynth.
    vel = float(np.clip(velocity, 1, 127)) / 127.0
    vel_cb = -400.0 * np.log10(vel)
    out *= 10.0 ** (-(zone.attenuation_cb * 0.4 + vel_cb) / 200.0)
    fc_hz = 8.176 * 2.0 ** ((zone.filter_fc_cents - 2400.0 * (1.0 - vel)) / 1200.0)
    if fc_hz < 0.45 * sample_rate:
        # A 2-pole low-pass magnitude, applied in the frequency domain (the cutoff is static).
        spectrum = np.fft.rfft(out)
        f = np.fft.rfftfreq(n, 1.0 / sample_rate)
        spectrum /= np.sqrt(1.0 + (f / fc_hz) ** 4)
        out = np.fft.irfft(spectrum, n=n)
    return out


def render_note(
    sf: SoundFont,
    program: int,
    key: int,
    velocity: int,
    note_seconds: float,
    clip_seconds: float,
    sample_rate: int = 16000,
    bank: int = 0,
) -> np.ndarray:
    """A note of a preset: held note_seconds, then released, in a clip of clip_seconds.

    Returns float64 (round(clip_seconds * sample_rate),), not normalised (zeros if no zone
    covers the key and velocity).
    """
    n = round(clip_seconds * sample_rate)
    release_at = min(n, round(note_seconds * sample_rate))
    out = np.zeros(n)
    for zone in sf.matching(program, key, velocity, bank):
        out += render_zone(sf, zone, key, velocity, n, release_at, sample_rate)
    return out
