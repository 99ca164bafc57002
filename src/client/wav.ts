// WAV file I/O for the client, on top of the `wavefile` package: the PCM bytes are passed through untouched.
import { readFileSync, writeFileSync } from 'node:fs';
import wavefile from 'wavefile';
import type { AudioFormat } from '../api/protocol.ts';
import { bytesPerSample } from './pcm-source.ts';

export { bytesPerSample };

export interface WavAudio {
  format: AudioFormat;
  /** Raw little-endian interleaved PCM, exactly as stored in the file's data chunk (whole frames only). */
  pcm: Uint8Array;
  /** Number of sample frames (one sample per channel). */
  frames: number;
  durationSeconds: number;
}

/** The `fmt ` chunk fields wavefile fills in (its typings only say `object`). */
interface FmtChunk {
  chunkSize: number;
  audioFormat: number;
  numChannels: number;
  sampleRate: number;
  byteRate: number;
  blockAlign: number;
  bitsPerSample: number;
  cbSize: number;
  validBitsPerSample: number;
  dwChannelMask: number;
  subformat: number[];
}
interface DataChunk {
  chunkId: string;
  chunkSize: number;
  samples: Uint8Array;
}

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_IEEE_FLOAT = 3;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;
/** Last three DWORDs of the KSDATAFORMAT_SUBTYPE_* GUIDs (xxxxxxxx-0000-0010-8000-00aa00389b71), as wavefile reads them. */
const SUBFORMAT_GUID_TAIL = [0x00100000, 0xaa000080, 0x719b3800];

const FORMAT_TAG_NAMES: Record<number, string> = {
  0x0002: 'Microsoft ADPCM',
  0x0006: 'A-law',
  0x0007: 'mu-law',
  0x0011: 'IMA ADPCM',
  0x0031: 'GSM 6.10',
  0x0050: 'MPEG',
  0x0055: 'MP3',
  0x0161: 'WMA',
  0xf1ac: 'FLAC',
};

function describe(tag: number, bits: number): string {
  if (tag === WAVE_FORMAT_PCM) return `${bits}-bit integer PCM`;
  if (tag === WAVE_FORMAT_IEEE_FLOAT) return `${bits}-bit IEEE float`;
  const name = FORMAT_TAG_NAMES[tag];
  return `${name ? `${name} (compressed, ` : '(unknown '}format tag 0x${tag.toString(16).padStart(4, '0')})`;
}

/** Read a WAV file holding 16-bit integer PCM (s16) or 32-bit IEEE float (f32) samples, any rate and channel count. */
export function readWav(path: string): WavAudio {
  const file = readFileSync(path);
  const wav = new wavefile.WaveFile();
  try {
    // A plain Uint8Array view: wavefile then copies the data chunk out with Uint8Array#slice.
    wav.fromBuffer(new Uint8Array(file.buffer, file.byteOffset, file.byteLength));
  } catch (err) {
    throw new Error(`${path}: not a readable WAV file: ${(err as Error).message}`);
  }
  if (wav.container === 'RIFX') {
    throw new Error(`${path}: unsupported WAV container RIFX (big-endian); only little-endian RIFF/RF64 is supported`);
  }
  const fmt = wav.fmt as FmtChunk;
  const data = wav.data as DataChunk;

  let tag = fmt.audioFormat;
  if (tag === WAVE_FORMAT_EXTENSIBLE) {
    const sub = fmt.subformat ?? [];
    if (sub.length !== 4 || !SUBFORMAT_GUID_TAIL.every((v, i) => sub[i + 1] === v)) {
      throw new Error(`${path}: unsupported WAV format: WAVE_FORMAT_EXTENSIBLE with an unknown sub-format GUID`);
    }
    tag = sub[0];
  }
  const bits = fmt.bitsPerSample;
  const isS16 = tag === WAVE_FORMAT_PCM && bits === 16;
  const isF32 = tag === WAVE_FORMAT_IEEE_FLOAT && bits === 32;
  if (!isS16 && !isF32) {
    throw new Error(
      `${path}: unsupported WAV format: ${describe(tag, bits)}; supported are 16-bit integer PCM and 32-bit IEEE float`,
    );
  }
  const channels = fmt.numChannels;
  if (channels < 1) throw new Error(`${path}: invalid WAV file: ${channels} channels`);
  if (!(fmt.sampleRate > 0)) throw new Error(`${path}: invalid WAV file: sample rate ${fmt.sampleRate}`);
  const frameBytes = channels * (bits / 8);
  if (fmt.blockAlign !== frameBytes) {
    throw new Error(`${path}: invalid WAV file: block align ${fmt.blockAlign}, expected ${frameBytes} for ${channels} x ${bits}-bit`);
  }

  const frames = Math.floor(data.samples.byteLength / frameBytes);
  const samples = data.samples;
  // A truncated file may end inside a frame: keep whole frames only.
  const pcm = new Uint8Array(samples.buffer, samples.byteOffset, frames * frameBytes);
  return {
    format: { channels, sample_rate: fmt.sampleRate, bit_depth: bits, is_float: isF32 },
    pcm,
    frames,
    durationSeconds: frames / fmt.sampleRate,
  };
}

/** Encode raw little-endian interleaved PCM (s16 or f32) as a WAV file; the bytes are stored as given. */
export function encodeWav(format: AudioFormat, pcm: Uint8Array): Uint8Array {
  const bps = bytesPerSample(format);
  const frameBytes = format.channels * bps;
  if (!Number.isInteger(format.channels) || format.channels < 1) throw new Error(`invalid channel count ${format.channels}`);
  if (pcm.byteLength % frameBytes !== 0) {
    throw new Error(`PCM length ${pcm.byteLength} is not a multiple of the frame size ${frameBytes}`);
  }
  const wav = new wavefile.WaveFile();
  // Header only: the samples are set as raw bytes below, so nothing is decoded or re-encoded.
  wav.fromScratch(format.channels, format.sample_rate, format.is_float ? '32f' : '16', []);
  const fmt = wav.fmt as FmtChunk;
  if (format.channels > 2) {
    // wavefile writes an extensible header for > 2 channels but keeps the plain tag and an integer-PCM GUID.
    const subTag = format.is_float ? WAVE_FORMAT_IEEE_FLOAT : WAVE_FORMAT_PCM;
    fmt.audioFormat = WAVE_FORMAT_EXTENSIBLE;
    fmt.subformat = [subTag, ...SUBFORMAT_GUID_TAIL];
  }
  const data = wav.data as DataChunk;
  data.samples = pcm;
  data.chunkSize = pcm.byteLength;
  return wav.toBuffer();
}

/** Write raw little-endian interleaved PCM (s16 or f32) to a WAV file. */
export function writeWav(path: string, format: AudioFormat, pcm: Uint8Array): void {
  writeFileSync(path, encodeWav(format, pcm));
}
