"""WAV files (cnnkit.data.wav_files): what is written reads back, and every bad file is named in one line."""

import wave

import numpy as np
import pytest
from scipy.io import wavfile

from cnnkit.data.wav_files import BadWavFileError, read_wav, write_wav


def test_a_written_file_reads_back_to_16_bit_precision(tmp_path):
    t = np.arange(8000) / 8000
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    path = write_wav(tmp_path / "tone.wav", tone, 8000)
    back = read_wav(path, 8000)
    assert back.dtype == np.float32 and back.shape == (8000,)
    np.testing.assert_allclose(back, tone, atol=1 / 32767)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left behind


@pytest.mark.parametrize("dtype", ["uint8", "int16", "int32"])
def test_other_pcm_widths_and_stereo_read_as_mono(tmp_path, dtype):
    info = np.iinfo(dtype)
    left = np.linspace(-0.5, 0.5, 400)
    scale = 127 if dtype == "uint8" else info.max
    offset = 128 if dtype == "uint8" else 0
    stereo = np.stack([left, -left], axis=1) * scale + offset
    wavfile.write(tmp_path / "s.wav", 8000, stereo.round().astype(dtype))
    assert np.abs(read_wav(tmp_path / "s.wav", 8000)).max() < 0.01  # the two channels cancel
    wavfile.write(tmp_path / "m.wav", 8000, (left * scale + offset).round().astype(dtype))
    np.testing.assert_allclose(read_wav(tmp_path / "m.wav", 8000), left, atol=0.01)


def test_24_bit_samples_keep_their_sign(tmp_path):
    values = np.array([0, 1 << 22, -(1 << 22), (1 << 23) - 1, -(1 << 23)], np.int32)
    raw = np.stack([(values >> s) & 0xFF for s in (0, 8, 16)], axis=1).astype(np.uint8)
    with wave.open(str(tmp_path / "deep.wav"), "wb") as out:
        out.setnchannels(1), out.setsampwidth(3), out.setframerate(8000)
        out.writeframes(raw.tobytes())
    np.testing.assert_allclose(read_wav(tmp_path / "deep.wav", 8000), values / float(1 << 23), atol=1e-7)


def test_every_bad_file_is_one_line_naming_it(tmp_path):
    write_wav(tmp_path / "fast.wav", np.zeros(160), 16000)
    wavfile.write(tmp_path / "float.wav", 8000, np.zeros(80, np.float32))
    (tmp_path / "text.wav").write_text("not audio at all")
    write_wav(tmp_path / "cut.wav", np.zeros(8000), 8000)
    whole = (tmp_path / "cut.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(whole[: len(whole) // 2])
    write_wav(tmp_path / "long.wav", np.zeros(8000 * 3), 8000)
    cases = {
        "fast.wav": "recorded at 16000 Hz, but the model separates 8000 Hz",
        "float.wav": "not a PCM WAV file",
        "text.wav": "not a PCM WAV file",
        "cut.wav": "truncated",
        "long.wav": "3 s long, above the limit of 2 s",
    }
    for name, problem in cases.items():
        with pytest.raises(BadWavFileError) as caught:
            read_wav(tmp_path / name, 8000, max_seconds=2)
        message = str(caught.value)
        assert name in message and problem in message and "\n" not in message, message
