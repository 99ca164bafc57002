// Command-line client: streams a WAV file to the service and prints every server event as a JSON line.
import cliProgress from 'cli-progress';
import { parseFlags, runCli, UsageError } from '../cli.ts';
import { describeError, newTraceparent, streamAudio } from './stream-client.ts';
import { bytesPerSample, readWav } from './wav.ts';

const DEFAULT_ADDR = 'ws://127.0.0.1:8080/api/v1/segmented';
const DEFAULT_CHUNK = 256;

const USAGE = `Usage: npm run client -- --input <file.wav> [options]

Streams a WAV file (16-bit integer or 32-bit float PCM, any rate and channel count)
to the streaming service and prints every server event as one JSON line on stdout.

Options:
  -i, --input <path>       WAV file to send (required)
  -a, --addr <url>         websocket endpoint (default ${DEFAULT_ADDR})
      --real-time          pace the audio at its real-time rate
      --interim-results    ask for interim segments (segmented mode)
      --chunk-size <n>     samples per channel in each binary frame (default ${DEFAULT_CHUNK})
  -h, --help               show this help

Exit status: 0 when the server closed the connection normally (1000), 1 otherwise, 2 on a usage error.
`;

interface CliArgs {
  input: string;
  addr: string;
  realTime: boolean;
  interimResults: boolean;
  chunkSize: number;
}

function parse(argv: string[]): CliArgs | 'help' {
  const { values } = parseFlags({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      input: { type: 'string', short: 'i' },
      addr: { type: 'string', short: 'a', default: DEFAULT_ADDR },
      'real-time': { type: 'boolean', default: false },
      'interim-results': { type: 'boolean', default: false },
      'chunk-size': { type: 'string', default: String(DEFAULT_CHUNK) },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return 'help';
  if (!values.input) throw new UsageError('missing required option --input');
  const chunkText = values['chunk-size'];
  const chunkSize = Number(chunkText);
  if (!/^\d+$/.test(chunkText) || !Number.isSafeInteger(chunkSize) || chunkSize < 1) {
    throw new UsageError(`--chunk-size must be a positive integer (samples per channel), got '${chunkText}'`);
  }
  return {
    input: values.input,
    addr: values.addr,
    realTime: values['real-time'],
    interimResults: values['interim-results'],
    chunkSize,
  };
}

async function main(args: CliArgs): Promise<number> {
  let wav;
  try {
    wav = readWav(args.input);
  } catch (err) {
    process.stderr.write(`error: ${describeError(err)}\n`);
    return 1;
  }
  const { format, pcm, durationSeconds } = wav;
  const frameBytes = args.chunkSize * format.channels * bytesPerSample(format);

  // Progress on stderr only when it is a terminal. If stdout is a terminal too (the same one, in practice),
  // event lines go through the bar's logger, printed above the bar, so they do not tear it.
  const bars = process.stderr.isTTY
    ? new cliProgress.MultiBar(
        {
          stream: process.stderr,
          format: 'sending |{bar}| {value}/{total} s',
          hideCursor: true,
          clearOnComplete: false,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const bar = bars?.create(round1(durationSeconds), 0);
  const printLine = (line: string) => {
    if (bars?.isActive && process.stdout.isTTY) {
      bars.log(line);
      bars.update(); // flush now: events often arrive just before the bar is stopped
    } else {
      process.stdout.write(line);
    }
  };

  // The client starts the trace: the server's stream span becomes a child of this traceparent.
  const traceparent = newTraceparent();
  process.stderr.write(`trace_id ${traceparent.split('-')[1]}\n`);
  try {
    const result = await streamAudio({
      traceId: traceparent,
      addr: args.addr,
      format,
      pcm,
      chunkBytes: frameBytes,
      realTime: args.realTime,
      interimResults: args.interimResults,
      onEvent: (e) => printLine(`${JSON.stringify(e)}\n`),
      onProgress: (sent) => bar?.update(round1(sent)),
      // A real-time stream takes as long as the audio; leave room for processing on top.
      timeoutMs: Math.max(120_000, (args.realTime ? durationSeconds * 1000 : 0) + 120_000),
    });
    bars?.stop();
    if (result.closeCode === 1000) return 0;
    const reason = result.closeReason ? `: ${result.closeReason}` : '';
    process.stderr.write(`error: connection to ${args.addr} closed with code ${result.closeCode}${reason}\n`);
    return 1;
  } catch (err) {
    bars?.stop();
    process.stderr.write(`error: ${describeError(err)}\n`);
    return 1;
  }
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

await runCli(USAGE, parse, main);
