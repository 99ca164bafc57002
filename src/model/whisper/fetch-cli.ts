// `npm run models:fetch -- <name>...`: downloads sherpa-onnx Whisper models into models/whisper-<name>/ (fetch.ts).
import cliProgress from 'cli-progress';
import { parseFlags, runCli, UsageError } from '../../cli.ts';
import { BASE_URL_ENV, DEFAULT_BASE_URL, fetchWhisperModel, ModelFetchError, WHISPER_ARCHIVES, type Phase } from './fetch.ts';

const choices = Object.entries(WHISPER_ARCHIVES)
  .map(([name, info]) => `  ${name.padEnd(10)} ${info.bytes === null ? '' : `${Math.round(info.bytes / 1e6)} MB download`}${info.sha256 === null ? ' (no pinned SHA-256)' : ''}`)
  .join('\n');

const USAGE = `Usage: npm run models:fetch -- <name>... [options]

Downloads the sherpa-onnx export of a Whisper model (sherpa-onnx-whisper-<name>.tar.bz2), checks its
SHA-256 against the pinned one, and installs the int8 encoder, decoder and tokens file into
<models-dir>/whisper-<name>/ (the directory the service's model.path points at).

Models:
${choices}

Options:
      --models-dir <dir>   where to install (default models)
      --base-url <url>     where the archives are (default $${BASE_URL_ENV}, else
                           ${DEFAULT_BASE_URL})
      --sha256 <hex>       expected SHA-256 of the archive, instead of the pinned one
      --allow-unverified   install even though no SHA-256 is known (prints the computed one)
      --force              replace an existing <models-dir>/whisper-<name>/
  -h, --help               show this help

Exit status: 0 when every model is installed or already present, 1 on a failure, 2 on a usage error.
`;

interface CliArgs {
  names: string[];
  modelsDir: string;
  baseUrl: string | undefined;
  sha256: string | undefined;
  allowUnverified: boolean;
  force: boolean;
}

function parse(argv: string[]): CliArgs | 'help' {
  const parsed = parseFlags({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      'models-dir': { type: 'string', default: 'models' },
      'base-url': { type: 'string' },
      sha256: { type: 'string' },
      'allow-unverified': { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  const known = Object.keys(WHISPER_ARCHIVES);
  if (positionals.length === 0) throw new UsageError(`name the model to fetch, one of: ${known.join(', ')}`);
  const unknown = positionals.filter((n) => !known.includes(n));
  if (unknown.length > 0) throw new UsageError(`unknown model ${unknown.map((n) => `'${n}'`).join(', ')}: choose from ${known.join(', ')}`);
  if (values.sha256 !== undefined && positionals.length > 1) throw new UsageError('--sha256 applies to one model: name only one');
  return {
    names: positionals,
    modelsDir: values['models-dir'],
    baseUrl: values['base-url'],
    sha256: values.sha256,
    allowUnverified: values['allow-unverified'],
    force: values.force,
  };
}

const mb = (bytes: number) => Math.round(bytes / 1e5) / 10;

async function fetchOne(name: string, args: CliArgs, signal: AbortSignal): Promise<boolean> {
  // A bar on stderr when it is a terminal; otherwise one line per phase.
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar(
        { stream: process.stderr, format: '{phase} |{bar}| {value}/{total} MB', hideCursor: true, clearOnComplete: false },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  let current: Phase | undefined;
  try {
    const result = await fetchWhisperModel({
      name,
      modelsDir: args.modelsDir,
      baseUrl: args.baseUrl,
      sha256: args.sha256,
      allowUnverified: args.allowUnverified,
      force: args.force,
      signal,
      onPhase: (phase, total) => {
        const label = `${phase === 'download' ? 'downloading' : 'unpacking  '} ${name}`;
        if (bar) {
          if (current !== undefined) bar.stop();
          bar.start(total === null ? 0 : mb(total), 0, { phase: label });
        } else {
          process.stderr.write(`${label}${total === null ? '' : ` (${mb(total)} MB)`}\n`);
        }
        current = phase;
      },
      onProgress: (_phase, done, total) => {
        if (!bar) return;
        if (total === null || done > total) bar.setTotal(mb(done));
        bar.update(mb(done));
      },
    });
    bar?.stop();
    if (result.status === 'skipped') {
      process.stderr.write(`${name}: skipped: ${result.reason}\n`);
      return true;
    }
    process.stderr.write(
      `${name}: installed ${result.dir} (archive SHA-256 ${result.sha256}${result.verified ? ', verified' : ', NOT verified: check it and pin it with --sha256'})\n`,
    );
    return true;
  } catch (err) {
    bar?.stop();
    if (signal.aborted) {
      process.stderr.write(`${name}: interrupted; nothing was installed\n`);
    } else {
      process.stderr.write(`error: ${name}: ${err instanceof ModelFetchError ? err.message : String(err)}\n`);
    }
    return false;
  }
}

async function main(args: CliArgs): Promise<number> {
  // Ctrl-C aborts the download or unpacking; the temp dir is removed before exiting.
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    let ok = true;
    for (const name of args.names) {
      if (abort.signal.aborted) break;
      ok = (await fetchOne(name, args, abort.signal)) && ok;
    }
    return ok && !abort.signal.aborted ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

await runCli(USAGE, parse, main);
