// Command-line client: streams a WAV file to the service and prints every server event as a JSON line.
import cliProgress from 'cli-progress';
import { parseFlags, runCli, UsageError } from '../cli.ts';
import { ConnectError, describeError, describeRefusal, newTraceparent, redactAddr, streamAudio } from './stream-client.ts';
import { bytesPerSample, readWav } from './wav.ts';

const DEFAULT_ADDR = 'ws://127.0.0.1:8080/api/v1/segmented';
const DEFAULT_CHUNK = 256;
const TOKEN_ENV = 'STREAMER_TOKEN';

/** Exit statuses; the usage text and the README list them. */
const EXIT = { ok: 0, failed: 1, usage: 2, refused: 3 } as const;

const USAGE = `Usage: npm run client -- --input <file.wav> [options]

Streams a WAV file (16-bit integer or 32-bit float PCM, any rate and channel count)
to the streaming service and prints every server event as one JSON line on stdout.

Options:
  -i, --input <path>       WAV file to send (required)
  -a, --addr <url>         websocket endpoint (default ${DEFAULT_ADDR})
  -t, --token <token>      bearer token for a service with auth on (default: $${TOKEN_ENV})
      --real-time          pace the audio at its real-time rate
      --interim-results    ask for interim segments (segmented mode)
      --chunk-size <n>     samples per channel in each binary frame (default ${DEFAULT_CHUNK})
  -h, --help               show this help

Auth: when the service's operator configured tokens (auth.tokens in its config or STREAMER_TOKENS
in its environment), every stream needs one of them. Ask the operator for one and give it with
--token or the environment variable ${TOKEN_ENV} (--token wins); it is sent as the header
"Authorization: Bearer <token>". Over ws:// the token travels in clear: use wss:// beyond a trusted
network. Without a valid token the server refuses the connection with HTTP 401 (unauthorized).

Exit status:
  ${EXIT.ok}  the server closed the connection normally (1000)
  ${EXIT.failed}  the file could not be read, the server could not be reached, or the connection
     closed abnormally (the code and reason are printed)
  ${EXIT.usage}  usage error
  ${EXIT.refused}  the server refused the connection with an HTTP status instead of a websocket, e.g.
     401: a missing or wrong token; 503: the service is not ready (the status and the
     server's message are printed)
`;

interface CliArgs {
  input: string;
  addr: string;
  realTime: boolean;
  interimResults: boolean;
  chunkSize: number;
  token?: string;
}

function parse(argv: string[]): CliArgs | 'help' {
  const { values } = parseFlags({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      input: { type: 'string', short: 'i' },
      addr: { type: 'string', short: 'a', default: DEFAULT_ADDR },
      token: { type: 'string', short: 't' },
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
  if (values.token !== undefined && values.token.trim() === '') throw new UsageError('--token must not be empty');
  const token = values.token?.trim() ?? (process.env[TOKEN_ENV]?.trim() || undefined);
  return {
    input: values.input,
    token,
    addr: values.addr,
    realTime: values['real-time'],
    interimResults: values['interim-results'],
    chunkSize,
  };
}

/** One line on stderr, prefixed with the tool's name so that it stands out from other output. */
function fail(message: string): void {
  process.stderr.write(`streamer-client: ${message}\n`);
}

async function main(args: CliArgs): Promise<number> {
  let wav;
  try {
    wav = readWav(args.input);
  } catch (err) {
    fail(describeError(err));
    return EXIT.failed;
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
      headers: args.token ? { authorization: `Bearer ${args.token}` } : undefined,
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
    if (result.closeCode === 1000) return EXIT.ok;
    const reason = result.closeReason ? `: ${result.closeReason}` : '';
    fail(`connection to ${redactAddr(args.addr)} closed with code ${result.closeCode}${reason}`);
    return EXIT.failed;
  } catch (err) {
    bars?.stop();
    if (err instanceof ConnectError && err.refusal) {
      fail(`server refused the connection: ${describeRefusal(err.refusal)}${refusalHint(err.refusal.status, args)}`);
      return EXIT.refused;
    }
    fail(describeError(err));
    return EXIT.failed;
  }
}

/** What to do about a refusal, when the status says it. */
function refusalHint(status: number, args: CliArgs): string {
  if (status === 401 || status === 403) {
    return args.token || /[?&]token=/.test(args.addr)
      ? ' (the token given was not accepted: check it with the operator)'
      : ` (give the service's token with --token or ${TOKEN_ENV})`;
  }
  if (status === 503) return ' (the service is not ready or is shutting down: retry later)';
  return '';
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

await runCli(USAGE, parse, main);
