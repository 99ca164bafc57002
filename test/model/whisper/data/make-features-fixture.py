#!/usr/bin/env python3
"""Writes features-reference.json: a numpy re-implementation of openai/whisper's
log_mel_spectrogram (audio.py) on a fixed 0.1 s signal (10 frames), for 80 and 128 mel bins.

The filterbank follows librosa.filters.mel(sr=16000, n_fft=400, n_mels, htk=False, norm='slaney')
(what whisper's assets/mel_filters.npz holds). Given the path of that npz file (from a checkout of
openai/whisper), the script checks its filterbank against it and also records a few of its weights.

    python3 test/model/whisper/data/make-features-fixture.py [path/to/whisper/assets/mel_filters.npz]
"""
import json
import os
import sys

import numpy as np

SR, N_FFT, HOP = 16000, 400, 160


def hz_to_mel(f):
    f = np.asarray(f, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-300) / min_log_hz) / logstep, f / f_sp)


def mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filters(n_mels):
    fftfreqs = np.linspace(0, SR / 2, 1 + N_FFT // 2)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(SR / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fftfreqs[None, :]
    weights = np.zeros((n_mels, len(fftfreqs)))
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights


def log_mel_spectrogram(audio, n_mels):
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)  # torch.hann_window (periodic)
    padded = np.pad(audio.astype(np.float64), N_FFT // 2, mode="reflect")  # center=True
    n_frames = 1 + (len(padded) - N_FFT) // HOP
    frames = np.stack([padded[t * HOP : t * HOP + N_FFT] * window for t in range(n_frames)])
    magnitudes = np.abs(np.fft.rfft(frames, axis=1)).T[:, :-1] ** 2  # stft[..., :-1].abs() ** 2
    mel_spec = mel_filters(n_mels) @ magnitudes
    log_spec = np.log10(np.maximum(mel_spec, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


def signal():
    # Must match referenceSignal() in features.test.ts.
    n = np.arange(1600, dtype=np.float64)
    x = 0.5 * np.sin(2 * np.pi * 440 * n / SR) + 0.25 * np.sin(2 * np.pi * 3000 * n / SR)
    x += 0.1 * np.sin(2 * np.pi * (100 * n / SR + 20000 * (n / SR) ** 2))  # a chirp across the band
    x *= 1 - n / 3200  # a decay, so frames differ
    return x.astype(np.float32)


def main():
    audio = signal()
    out = {"description": "numpy reference of whisper's log_mel_spectrogram; see make-features-fixture.py",
           "samples": len(audio)}
    for n_mels in (80, 128):
        mel = log_mel_spectrogram(audio, n_mels)
        out[f"mel{n_mels}"] = {"frames": mel.shape[1], "data": [round(float(v), 7) for v in mel.reshape(-1)]}
    if len(sys.argv) > 1:
        npz = np.load(sys.argv[1])
        picks = [(m, int(np.argmax(npz["mel_80"][m]))) for m in (0, 1, 10, 40, 79)]  # each filter's peak
        for n_mels in (80, 128):
            ref = npz[f"mel_{n_mels}"]
            err = np.abs(mel_filters(n_mels) - ref).max()
            assert err < 1e-6, f"filterbank {n_mels} differs from whisper's by {err}"
        out["whisperMel80Weights"] = [[m, k, float(npz["mel_80"][m, k])] for m, k in picks]
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "features-reference.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
