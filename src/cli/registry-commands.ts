import type { Command } from 'commander';
import { resolveCredentials } from '../client/credentials';
import { parseReference, parseRegistry, ReferenceError, type Reference } from '../client/reference';
import { expectOk, RegistryClient, RegistryError } from '../client/registry-client';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function clientFor(registry: string, baseUrl: string): Promise<RegistryClient> {
  const creds = await resolveCredentials(registry);
  return new RegistryClient({
    baseUrl,
    ...(creds ? { credentials: { username: creds.username, password: creds.password } } : {}),
  });
}

async function artifactClient(
  reference: string,
  plainHttp?: boolean,
): Promise<{ ref: Reference; client: RegistryClient; target: string }> {
  const ref = parseReference(reference, { plainHttp });
  const target = ref.digest ?? ref.tag;
  if (!target) throw new ReferenceError(`${reference}: name the artifact with :<tag> or @<digest>`);
  return { ref, client: await clientFor(ref.registry, ref.baseUrl), target };
}

async function getJson(
  client: RegistryClient,
  path: string,
  scope: string,
  what: string,
  query?: Record<string, string>,
): Promise<Json> {
  const res = await client.request('GET', path, { scope, ...(query ? { query } : {}) });
  expectOk(res, what);
  return JSON.parse(res.body.toString('utf8')) as Json;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- commander passes each command's own argument types
function action(fn: (...args: any[]) => Promise<void>) {
  return async (...args: unknown[]): Promise<void> => {
    try {
      await fn(...args);
    } catch (err) {
      process.stderr.write(`cairn: ${(err as Error).message}\n`);
      process.exitCode =
        err instanceof ReferenceError ? 2 : err instanceof RegistryError && err.code === 'DENIED' ? 3 : 1;
    }
  };
}

const line = (a: Json) =>
  `${a.hidden ? '(hidden)' : `${a.repository ?? '?'}@${a.digest}`}\t${a.kind ?? '-'}\t${a.stage ?? '-'}\t${a.name ?? ''}${a.depth !== undefined ? `\tdepth ${a.depth}` : ''}${a.compromised ? '\tCOMPROMISED' : ''}`;

/**
 * The commands that work on artifacts through a registry's API, with the same credentials as push and
 * pull: `cairn promote`, `cairn lineage`, `cairn impact`, `cairn compromised`, `cairn search`.
 * Output is one artifact per line (tab-separated), or the API's JSON with --json.
 */
export function registryCommands(program: Command): void {
  program
    .command('promote <reference> <stage>')
    .description('move an artifact through its lifecycle: candidate, approved, deprecated, retired (or back to draft)')
    .option('--reason <text>', 'why; recorded with the stage and in the audit log')
    .option('--plain-http', 'use http:// for a registry that is not on localhost')
    .action(
      action(async (reference: string, stage: string, o: { reason?: string; plainHttp?: boolean }) => {
        const { ref, client, target } = await artifactClient(reference, o.plainHttp);
        const action = stage === 'draft' || stage === 'candidate' ? 'push' : 'approve';
        const res = await client.request('POST', `/v2/${ref.repository}/_cairn/lifecycle/${target}`, {
          scope: `repository:${ref.repository}:pull,${action}`,
          query: { to: stage },
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(o.reason ? { reason: o.reason } : {}),
        });
        expectOk(res, `promoting ${reference}`);
        const r = JSON.parse(res.body.toString('utf8')) as Json;
        if (res.status === 202)
          process.stdout.write(
            `${ref.repository}@${r.digest}: approval recorded (${r.approvals.length} of ${r.approvalsRequired}); still ${r.stage}\n`,
          );
        else process.stdout.write(`${ref.repository}@${r.digest}: ${r.previousStage} -> ${r.stage}\n`);
        client.close();
      }),
    );

  program
    .command('lineage <reference>')
    .description('what an artifact came from (upstream) and what was made from it (downstream)')
    .option('--direction <d>', 'upstream, downstream or both', 'both')
    .option('--depth <n>', 'how many steps to follow', '5')
    .option('--json', 'print the API answer')
    .option('--plain-http', 'use http:// for a registry that is not on localhost')
    .action(
      action(
        async (reference: string, o: { direction: string; depth: string; json?: boolean; plainHttp?: boolean }) => {
          const { ref, client, target } = await artifactClient(reference, o.plainHttp);
          const r = await getJson(
            client,
            `/v2/${ref.repository}/_cairn/lineage/${target}`,
            `repository:${ref.repository}:pull`,
            `lineage of ${reference}`,
            { direction: o.direction, depth: o.depth },
          );
          if (o.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
          else {
            for (const d of ['upstream', 'downstream']) {
              if (!r[d]) continue;
              process.stdout.write(`${d}:\n`);
              for (const n of r[d].nodes as Json[]) if (n.depth > 0) process.stdout.write(`  ${line(n)}\n`);
              for (const e of r[d].edges as Json[])
                process.stdout.write(
                  `  ${e.from.repository ?? ''}@${e.from.digest} --${e.relation}--> ${e.to.repository ?? ''}@${e.to.digest}\n`,
                );
              if (r[d].truncated) process.stdout.write(`  (more beyond depth ${o.depth})\n`);
            }
          }
          client.close();
        },
      ),
    );

  program
    .command('impact <reference>')
    .description('every model trained, directly or transitively, on an artifact, with the audit events of each')
    .option('--depth <n>', 'how many steps to follow', '20')
    .option('--json', 'print the API answer (with the audit events)')
    .option('--plain-http', 'use http:// for a registry that is not on localhost')
    .action(
      action(async (reference: string, o: { depth: string; json?: boolean; plainHttp?: boolean }) => {
        const { ref, client, target } = await artifactClient(reference, o.plainHttp);
        const r = await getJson(
          client,
          `/v2/${ref.repository}/_cairn/impact/${target}`,
          `repository:${ref.repository}:pull`,
          `impact of ${reference}`,
          { depth: o.depth },
        );
        if (o.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        else {
          process.stdout.write(`${line(r.artifact)}\n${r.models} model(s) affected:\n`);
          for (const a of r.affected as Json[])
            process.stdout.write(`  ${line(a)}\t${(a.events ?? []).length} audit event(s)\n`);
        }
        client.close();
      }),
    );

  program
    .command('compromised <reference>')
    .description('flag an artifact as compromised (then ask `cairn impact` what was built from it)')
    .requiredOption('--reason <text>', 'what happened')
    .option('--plain-http', 'use http:// for a registry that is not on localhost')
    .action(
      action(async (reference: string, o: { reason: string; plainHttp?: boolean }) => {
        const { ref, client, target } = await artifactClient(reference, o.plainHttp);
        const res = await client.request('POST', `/v2/${ref.repository}/_cairn/compromised/${target}`, {
          scope: `repository:${ref.repository}:pull,approve`,
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ reason: o.reason }),
        });
        expectOk(res, `flagging ${reference}`);
        process.stdout.write(`${line(JSON.parse(res.body.toString('utf8')) as Json)}\n`);
        client.close();
      }),
    );

  const filters = ['kind', 'family', 'framework', 'license', 'stage', 'repository', 'references'] as const;
  const search = program
    .command('search <registry> [text]')
    .description('find artifacts by name, kind, framework, licence, stage, annotations, metrics and lineage')
    .option('--annotation <key=value>', 'annotation filter (repeatable)', (v: string, p: string[] = []) => [...p, v])
    .option('--metric <expr>', 'metric filter such as accuracy>=0.9 (repeatable)', (v: string, p: string[] = []) => [
      ...p,
      v,
    ])
    .option('-n, --limit <n>', 'at most this many', '100')
    .option('--json', 'print the API answer')
    .option('--plain-http', 'use http:// for a registry that is not on localhost');
  for (const f of filters)
    search.option(
      `--${f} <value>`,
      f === 'references' ? 'artifacts with a lineage edge to this digest' : `only this ${f}`,
    );
  search.action(
    action(async (registryArg: string, text: string | undefined, o: Json) => {
      const { registry, baseUrl } = parseRegistry(registryArg, { plainHttp: o.plainHttp });
      const client = await clientFor(registry, baseUrl);
      const params = new URLSearchParams();
      if (text) params.set('q', text);
      for (const f of filters) if (o[f]) params.set(f, o[f]);
      for (const a of o.annotation ?? []) params.append('annotation', a);
      for (const m of o.metric ?? []) params.append('metric', m);
      const want = Number(o.limit);
      const found: Json[] = [];
      let last: string | undefined;
      do {
        const q = new URLSearchParams(params);
        q.set('n', String(Math.min(100, want - found.length)));
        if (last) q.set('last', last);
        const r = await getJson(client, `/v2/_cairn/search?${q.toString()}`, 'registry:catalog:*', 'searching');
        found.push(...(r.artifacts as Json[]));
        last = r.next;
      } while (last && found.length < want);
      if (o.json) process.stdout.write(`${JSON.stringify({ artifacts: found }, null, 2)}\n`);
      else for (const a of found) process.stdout.write(`${line(a)}\n`);
      client.close();
    }),
  );
}
