import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { BUILTIN_POLICY_DIR } from '../policy/defaults';
import type { Config } from '../config/config';
import { openBackends } from '../app';
import { ACTIONS, type Action } from '../auth/principal';
import type { IdentityStore } from '../auth/identity-store';
import { CedarAuthorizer, PolicyError } from '../policy/cedar-authorizer';
import { principalOf, resourceOf } from '../policy/policy-test';

type ConfigLoader = (opts: { config?: string }) => Config;

/**
 * `cairn policy test`: evaluates one request against the policy directory (and, unless --no-db, the role
 * bindings and labels in the configured database) and prints the decision with the policies that made
 * it; `--expect allow|deny` turns it into a check for CI. `cairn policy validate` checks the directory.
 */
export function policyCommands(program: Command, load: ConfigLoader): Command {
  const policy = program.command('policy').description('check and test the Cedar policies and the governance rules');
  policy.option('-c, --config <file>', 'YAML configuration file');

  const authorizerFor = async (
    cmd: Command,
    o: { policyDir?: string; db?: boolean },
  ): Promise<{ a: CedarAuthorizer; done: () => Promise<void> }> => {
    const config = load(cmd.optsWithGlobals() as { config?: string });
    let dir = o.policyDir ?? config.auth.policyDir;
    if (!o.policyDir && !existsSync(dir)) {
      // What the server would install on its first start.
      process.stderr.write(`note: ${dir} does not exist yet; using the built-in policies\n`);
      dir = BUILTIN_POLICY_DIR;
    }
    let store: IdentityStore | undefined;
    let done = async () => undefined as void;
    if (o.db !== false) {
      const b = await openBackends(config);
      store = b.identities;
      done = async () => {
        await Promise.allSettled([b.blobs.close(), b.sessions.close(), b.catalog.close()]);
      };
    }
    const a = new CedarAuthorizer(dir, store);
    try {
      await a.load();
    } catch (err) {
      await done();
      throw err;
    }
    return { a, done };
  };

  const guard = (fn: () => Promise<void>) =>
    fn().catch((err) => {
      if (!(err instanceof PolicyError)) throw err;
      process.stderr.write(`cairn: invalid policy: ${err.message}\n`);
      process.exit(2);
    });

  policy
    .command('test')
    .description('decide one request and say which policies decided')
    .requiredOption('--principal <p>', 'user:<name>, robot:<name>, oidc:<rule> or anonymous')
    .requiredOption('--action <a>', ACTIONS.join(', '))
    .requiredOption('--resource <r>', 'a repository (ml/bert), a namespace (ml/) or * for the registry')
    .option('--groups <list>', "the principal's groups, comma-separated", '')
    .option('--mfa', 'the request was authenticated with a second factor', false)
    .option('--ip <address>', 'source address', '127.0.0.1')
    .option('--time <iso>', 'when the request happens (default now)')
    .option('--stage <stage>', 'for a lifecycle move: the stage asked for (context.targetStage)')
    .option('--policy-dir <dir>', 'policies to test (default: the configured directory)')
    .option('--no-db', 'ignore the role bindings and labels in the database')
    .option('--expect <decision>', 'exit 1 unless the decision is allow or deny')
    .action(
      (
        o: {
          principal: string;
          action: string;
          resource: string;
          groups: string;
          mfa: boolean;
          ip: string;
          time?: string;
          stage?: string;
          policyDir?: string;
          db?: boolean;
          expect?: string;
        },
        cmd: Command,
      ) =>
        guard(async () => {
          if (!(ACTIONS as readonly string[]).includes(o.action))
            throw new PolicyError(`--action must be one of ${ACTIONS.join(', ')}`);
          if (o.expect !== undefined && o.expect !== 'allow' && o.expect !== 'deny')
            throw new PolicyError('--expect must be allow or deny');
          const now = o.time ? new Date(o.time) : new Date();
          if (Number.isNaN(now.getTime())) throw new PolicyError(`--time ${o.time} is not a date`);
          const { a, done } = await authorizerFor(cmd, o);
          try {
            const groups = o.groups
              .split(',')
              .map((g) => g.trim())
              .filter(Boolean);
            const d = a.authorize({
              principal: principalOf(o.principal, groups, o.mfa),
              action: o.action as Action,
              resource: resourceOf(o.resource),
              context: { sourceIp: o.ip, now, ...(o.stage ? { targetStage: o.stage } : {}) },
            });
            const decision = d.allowed ? 'allow' : 'deny';
            process.stdout.write(`${decision.toUpperCase()} ${o.principal} ${o.action} ${o.resource}\n`);
            process.stdout.write(
              d.policies.length
                ? `decided by: ${d.policies.join(', ')}\n`
                : 'decided by: no policy applies (default deny)\n',
            );
            for (const e of d.errors) process.stdout.write(`error: ${e}\n`);
            for (const w of a.warnings) process.stderr.write(`warning: ${w}\n`);
            if (o.expect && o.expect !== decision) process.exitCode = 1;
          } finally {
            await done();
          }
        }),
    );

  policy
    .command('validate')
    .description('parse and validate the policies against the schema')
    .option('--policy-dir <dir>', 'default: the configured directory')
    .option('--no-db', 'do not check the role bindings in the database')
    .action((o: { policyDir?: string; db?: boolean }, cmd: Command) =>
      guard(async () => {
        const { a, done } = await authorizerFor(cmd, o);
        await done();
        for (const w of a.warnings) process.stderr.write(`warning: ${w}\n`);
        process.stdout.write('policies are valid\n');
      }),
    );
  return policy;
}
