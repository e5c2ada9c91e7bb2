import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { removeCredentials, resolveCredentials, storeCredentials } from '../client/credentials';
import { DigestMismatchError } from '../client/download';
import { Reporter } from '../client/progress';
import type { ArtifactKind } from '../client/pack';
import { DEFAULT_CONNECTIONS, DEFAULT_PART_BYTES, pullArtifact } from '../client/pull';
import { pushDirectory, type PushOptions } from '../client/push';
import { parseRegistry, ReferenceError } from '../client/reference';
import { RegistryClient, RegistryError } from '../client/registry-client';
import { PackError } from '../client/walk';

/** Input the user can correct (exit 2), as opposed to a failure of the transfer (exit 1). */
class UsageError extends Error {}

const collect = (value: string, previous: string[] = []) => [...previous, value];

function chunkBytes(mib: string | undefined): number | undefined {
  if (mib === undefined) return undefined;
  const n = Number(mib);
  // Fractions of a MiB are allowed (tests, slow links); below 64 KiB the per-request cost dominates.
  if (!Number.isFinite(n) || n * 1024 * 1024 < 64 * 1024)
    throw new UsageError(`--chunk-size ${mib}: a number of MiB, at least 0.0625 (64 KiB)`);
  return Math.floor(n * 1024 * 1024);
}

async function hintFor(err: RegistryError, registry: string | undefined, login: boolean): Promise<string> {
  if (login)
    return err.status === 401
      ? '\n  check the user name and password (robots log in as robot$<name> with their secret)'
      : '';
  const loginHint = `log in with "cairn login ${registry ?? '<registry>'} -u <user> --password-stdin", or set CAIRN_USERNAME and CAIRN_PASSWORD`;
  if (err.status === 401 || err.code === 'UNAUTHORIZED') return `\n  ${loginHint}`;
  if (err.code === 'DENIED') {
    // Anonymous callers are denied rather than challenged once they hold an (anonymous) token.
    const anonymous = registry ? !(await resolveCredentials(registry).catch(() => undefined)) : false;
    return anonymous
      ? `\n  you are not logged in to ${registry}; ${loginHint}`
      : '\n  your identity lacks the permission; ask an administrator for a role on this repository';
  }
  return '';
}

/** Runs a command body, turning errors into one clear line on stderr and an exit code. */
function run<A extends unknown[]>(fn: (...args: A) => Promise<void>, registryArg: number, login = false) {
  return async (...args: A): Promise<void> => {
    try {
      await fn(...args);
    } catch (err) {
      const arg = args[registryArg];
      const registry = typeof arg === 'string' ? arg.split('/')[0] : undefined;
      if (err instanceof UsageError || err instanceof ReferenceError || err instanceof PackError) {
        process.stderr.write(`cairn: ${err.message}\n`);
        process.exitCode = 2;
      } else if (err instanceof RegistryError) {
        process.stderr.write(`cairn: ${err.message}${await hintFor(err, registry, login)}\n`);
        process.exitCode = 1;
      } else if (err instanceof DigestMismatchError) {
        process.stderr.write(`cairn: ${err.message}\n`);
        process.exitCode = 1;
      } else {
        const e = err as NodeJS.ErrnoException;
        const why =
          e.code === 'ECONNREFUSED'
            ? `cannot connect (${e.message}); is the registry running, and is the address right?`
            : e.message;
        process.stderr.write(`cairn: ${why}\n`);
        process.exitCode = 1;
      }
    }
  };
}

async function readStdin(): Promise<string> {
  return readFileSync(0, 'utf8');
}

/** Reads a password from the terminal without echoing it. */
function promptHidden(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    let value = '';
    const done = (err?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.removeListener('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done();
        if (ch === '\u0003') return done(new UsageError('cancelled'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

interface PushFlags extends Omit<PushOptions, 'chunkSize'> {
  chunkSize?: string;
  quiet?: boolean;
}

function pushCommand(push: Command, kind: ArtifactKind): void {
  const cmd = push
    .command(`${kind} <dir> <reference>`)
    .description(
      kind === 'model'
        ? 'pack a directory as a CNCF ModelPack model (one layer per file) and push it'
        : 'pack a directory as a Cairn dataset (one layer per file) and push it',
    )
    .option('--name <name>', 'artifact name (default: the last component of the repository)')
    .option('--version <version>', 'version of the model or dataset')
    .option('--description <text>', 'one-line description')
    .option('--license <spdx>', 'license (SPDX id or expression); repeatable', collect)
    .option('--author <name>', 'author; repeatable', collect)
    .option('--source <url>', 'source repository URL (default: from the CI environment)')
    .option('--revision <commit>', 'source revision (default: from the CI environment)')
    .option(
      '--format <format>',
      kind === 'model' ? 'model format, e.g. safetensors, gguf, onnx, pytorch' : 'data format, e.g. parquet, jsonl',
    )
    .option('--sensitivity <level>', 'data sensitivity label, e.g. public, internal, pii')
    .option('--preprocessing <step>', 'a preprocessing step; repeatable', collect)
    .option('--metric <name=value>', 'an evaluation metric (a number); repeatable', collect)
    .option('--annotation <key=value>', 'an extra manifest annotation; repeatable', collect);
  if (kind === 'model') {
    cmd
      .option('--framework <name>', 'training framework, e.g. pytorch, jax')
      .option('--dataset <ref>', 'a training dataset, repo@sha256:… or repo:tag (resolved now); repeatable', collect)
      .option('--base-model <ref>', 'the model this one was fine-tuned from, repo@sha256:… or repo:tag');
  } else {
    cmd.option(
      '--derived-from <ref>',
      'a parent dataset, repo@sha256:… or repo:tag (resolved now); repeatable',
      collect,
    );
  }
  cmd
    .option('--chunk-size <MiB>', 'upload files larger than this in resumable chunks of this size', '64')
    .option('--plain-http', 'talk HTTP, not HTTPS (default only for localhost)')
    .option('-q, --quiet', 'no progress output')
    .action(
      run(async (dir: string, reference: string, flags: PushFlags) => {
        const reporter = new Reporter({ quiet: flags.quiet });
        const { chunkSize, quiet: _quiet, ...rest } = flags;
        const r = await pushDirectory(kind, dir, reference, { ...rest, chunkSize: chunkBytes(chunkSize) }, reporter);
        process.stdout.write(`${r.repository}@${r.digest}\n`);
      }, 1),
    );
}

/**
 * `cairn login|logout|push|pull`: the client side, packing directories into model and dataset
 * artifacts and moving them to and from any Cairn (or OCI) registry.
 */
export function transferCommands(program: Command): void {
  program
    .command('login <registry>')
    .description('check credentials against a registry and store them (0600) for push and pull')
    .option('-u, --username <user>', 'user name (robots: robot$<name>)')
    .option('--password-stdin', 'read the password (or robot secret, or access token) from stdin')
    .option('--plain-http', 'talk HTTP, not HTTPS (default only for localhost)')
    .action(
      run(
        async (registryArg: string, o: { username?: string; passwordStdin?: boolean; plainHttp?: boolean }) => {
          const { registry, baseUrl } = parseRegistry(registryArg, { plainHttp: o.plainHttp });
          const username = o.username ?? process.env.CAIRN_USERNAME;
          if (!username) throw new UsageError('give the user name with -u <user>');
          let password: string;
          if (o.passwordStdin) password = (await readStdin()).replace(/\r?\n$/, '');
          else if (process.stdin.isTTY) password = await promptHidden(`password for ${username}@${registry}: `);
          else throw new UsageError('stdin is not a terminal: pass the password with --password-stdin');
          if (password === '') throw new UsageError('the password is empty');
          const client = new RegistryClient({ baseUrl, credentials: { username, password } });
          try {
            const { authEnabled } = await client.authenticate();
            if (!authEnabled)
              process.stderr.write(
                `warning: ${registry} has authentication turned off; storing the credentials anyway\n`,
              );
          } finally {
            client.close();
          }
          const file = await storeCredentials(registry, { username, password });
          process.stdout.write(`Login succeeded: ${username} on ${registry} (stored in ${file})\n`);
        },
        0,
        true,
      ),
    );

  program
    .command('logout <registry>')
    .description('forget the stored credentials of a registry')
    .action(
      run(async (registryArg: string) => {
        const { registry } = parseRegistry(registryArg);
        const removed = await removeCredentials(registry);
        process.stdout.write(
          removed ? `Removed the credentials of ${registry}\n` : `No credentials stored for ${registry}\n`,
        );
      }, 0),
    );

  const push = program.command('push').description('push a directory as a model or dataset artifact');
  pushCommand(push, 'model');
  pushCommand(push, 'dataset');

  program
    .command('pull <reference> <dir>')
    .description('restore the files of a model or dataset artifact into a directory (resumable)')
    .option('--plain-http', 'talk HTTP, not HTTPS (default only for localhost)')
    .option(
      '--connections <n>',
      'range requests at once for each large file (1: one stream)',
      String(DEFAULT_CONNECTIONS),
    )
    .option(
      '--part-size <MiB>',
      'the size of each range; files up to this size come in one request',
      String(DEFAULT_PART_BYTES / 1048576),
    )
    .option('-q, --quiet', 'no progress output')
    .action(
      run(
        async (
          reference: string,
          dir: string,
          o: { plainHttp?: boolean; quiet?: boolean; connections: string; partSize: string },
        ) => {
          const connections = Number(o.connections);
          const partMiB = Number(o.partSize);
          if (!Number.isInteger(connections) || connections < 1 || connections > 8)
            throw new UsageError('--connections must be a whole number from 1 to 8');
          if (!Number.isInteger(partMiB) || partMiB < 1 || partMiB > 4096)
            throw new UsageError('--part-size must be a whole number of MiB from 1 to 4096');
          const reporter = new Reporter({ quiet: o.quiet });
          const r = await pullArtifact(
            reference,
            dir,
            { plainHttp: o.plainHttp, connections, partBytes: partMiB * 1048576 },
            reporter,
          );
          process.stdout.write(`${r.repository}@${r.digest}\n`);
        },
        0,
      ),
    );
}
