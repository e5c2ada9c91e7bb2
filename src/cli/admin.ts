import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { createAuditLog } from '../audit';
import type { Command } from 'commander';
import type { Config } from '../config/config';
import type { Backends } from '../app';
import { withBackends } from './with-backends';
import { EncryptionUsageError, encryptionCommands } from './encryption-commands';
import { hashPassword, checkPasswordStrength } from '../auth/passwords';
import { issueSecret, randomPassword } from '../auth/secrets';
import { KeyRing } from '../auth/signing-keys';
import { ACCOUNT_NAME, IdentityConflict } from '../auth/identity-store';
import { bindingPrincipalUid, scopeUid } from '../policy/cedar-entities';

type ConfigLoader = (opts: { config?: string }) => Config;

class UsageError extends Error {}

function fail(message: string, code = 1): never {
  process.stderr.write(`cairn: ${message}\n`);
  process.exit(code);
}

const list = (s?: string) =>
  s
    ? s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)
    : [];
const NAME = ACCOUNT_NAME;

function readPassword(stdin: boolean): string {
  if (!stdin) return randomPassword();
  const p = readFileSync(0, 'utf8').replace(/\r?\n$/, '');
  const weak = checkPasswordStrength(p);
  if (weak) throw new UsageError(weak);
  return p;
}

const out = (v: unknown): void => {
  process.stdout.write(`${typeof v === 'string' ? v : JSON.stringify(v, null, 2)}\n`);
};

/**
 * `cairn admin`: the operator's verbs on users, robots, OIDC trust rules, role bindings, signing keys
 * and resource labels. They act on the configured database directly (the same CAIRN_* configuration
 * as the server), so they work with the registry stopped, and from any replica's environment.
 */
export function adminCommands(program: Command, load: ConfigLoader): void {
  const admin = program.command('admin').description('manage identities, roles, keys and labels');
  const run =
    <A extends unknown[]>(fn: (b: Backends, config: Config, ...args: A) => Promise<void>) =>
    async (...args: A) => {
      const cmd = args[args.length - 1] as Command;
      const config = load(cmd.optsWithGlobals() as { config?: string });
      try {
        await withBackends(config, async (b) => {
          await fn(b, config, ...args);
          // Every administrative change is in the audit log, attributed to the operating-system user.
          const log = createAuditLog(config, b.catalog, undefined, { sign: false });
          const verb = `${cmd.parent?.name() ?? ''}.${cmd.name()}`;
          if (!/\.list$/.test(verb)) {
            const operands = args.slice(0, -2).filter((a): a is string => typeof a === 'string');
            await log.append({
              type: `admin.${verb}`,
              identity: `cli:${userInfo().username}`,
              action: 'admin',
              decision: 'allow',
              detail: { args: operands.join(' ') },
            });
            await log.close();
          }
        });
      } catch (err) {
        if (err instanceof UsageError || err instanceof IdentityConflict || err instanceof EncryptionUsageError)
          fail(err.message, 2);
        throw err;
      }
    };
  admin.option('-c, --config <file>', 'YAML configuration file');

  const users = admin.command('users').description('human accounts');
  users
    .command('add <name>')
    .option('--groups <list>', 'comma-separated groups')
    .option('--password-stdin', 'read the password from stdin (otherwise one is generated and printed once)')
    .action(
      run(async (b, _c, name: string, o: { groups?: string; passwordStdin?: boolean }) => {
        if (!NAME.test(name)) throw new UsageError(`invalid user name "${name}" (lower-case letters, digits, . _ -)`);
        const password = readPassword(!!o.passwordStdin);
        await b.identities.createUser({
          name,
          passwordHash: await hashPassword(password),
          groups: list(o.groups),
          disabled: false,
        });
        out(o.passwordStdin ? `user ${name} created` : `user ${name} created; password (shown once): ${password}`);
      }),
    );
  users.command('list').action(
    run(async (b) => {
      out(
        (await b.identities.listUsers()).map((u) => ({
          name: u.name,
          groups: u.groups,
          disabled: u.disabled,
          mfa: u.totpEnabled,
          lockedUntil: u.lockedUntil > Date.now() ? new Date(u.lockedUntil).toISOString() : undefined,
        })),
      );
    }),
  );
  users
    .command('disable <name>')
    .description('refuse logins and stop its tokens (within auth.revocationCheckSeconds)')
    .action(
      run(async (b, _c, name: string) => {
        if (!(await b.identities.updateUser(name, { disabled: true }))) throw new UsageError(`no user ${name}`);
        const n = await b.identities.revokeCredentialsOf(`user:${name}`);
        out(`user ${name} disabled; ${n} token(s) revoked`);
      }),
    );
  users.command('enable <name>').action(
    run(async (b, _c, name: string) => {
      if (!(await b.identities.updateUser(name, { disabled: false }))) throw new UsageError(`no user ${name}`);
      await b.identities.clearLoginFailures(name);
      out(`user ${name} enabled`);
    }),
  );
  users
    .command('passwd <name>')
    .option('--password-stdin', 'read the new password from stdin (otherwise one is generated and printed once)')
    .action(
      run(async (b, _c, name: string, o: { passwordStdin?: boolean }) => {
        const password = readPassword(!!o.passwordStdin);
        if (!(await b.identities.updateUser(name, { passwordHash: await hashPassword(password) })))
          throw new UsageError(`no user ${name}`);
        await b.identities.clearLoginFailures(name);
        out(
          o.passwordStdin
            ? `password of ${name} changed`
            : `password of ${name} changed; new password (shown once): ${password}`,
        );
      }),
    );
  users
    .command('groups <name> <groups>')
    .description('set the groups (comma-separated; "" for none)')
    .action(
      run(async (b, _c, name: string, groups: string) => {
        if (!(await b.identities.updateUser(name, { groups: list(groups) }))) throw new UsageError(`no user ${name}`);
        out(`groups of ${name}: ${list(groups).join(', ') || '(none)'}`);
      }),
    );
  users
    .command('reset-mfa <name>')
    .description('remove the TOTP enrolment and revoke the tokens made with it')
    .action(
      run(async (b, _c, name: string) => {
        if (!(await b.identities.updateUser(name, { totpSecret: undefined, totpEnabled: false })))
          throw new UsageError(`no user ${name}`);
        const n = await b.identities.revokeCredentialsOf(`user:${name}`);
        out(`MFA of ${name} reset; ${n} token(s) revoked`);
      }),
    );

  const robots = admin.command('robots').description('CI accounts (log in as robot$<name>)');
  robots
    .command('add <name>')
    .option('--groups <list>', 'comma-separated groups')
    .option('--expires-in-days <n>', 'the robot stops working after this many days')
    .option('--description <text>', 'what it is for', '')
    .action(
      run(async (b, _c, name: string, o: { groups?: string; expiresInDays?: string; description: string }) => {
        if (!NAME.test(name)) throw new UsageError(`invalid robot name "${name}"`);
        const days = o.expiresInDays === undefined ? undefined : Number(o.expiresInDays);
        if (days !== undefined && (!Number.isInteger(days) || days < 1))
          throw new UsageError('--expires-in-days must be a whole number of days');
        const secret = issueSecret('robot');
        await b.identities.createRobot({
          name,
          secretHash: secret.hash,
          groups: list(o.groups),
          disabled: false,
          description: o.description,
          expiresAt: days ? Date.now() + days * 86_400_000 : undefined,
        });
        out({
          user: `robot$${name}`,
          secret: secret.secret,
          expiresAt: days ? new Date(Date.now() + days * 86_400_000).toISOString() : null,
          note: 'the secret is shown once',
        });
      }),
    );
  robots
    .command('rotate <name>')
    .description('a new secret; the old one stops working at once')
    .action(
      run(async (b, _c, name: string) => {
        const secret = issueSecret('robot');
        if (!(await b.identities.updateRobot(name, { secretHash: secret.hash })))
          throw new UsageError(`no robot ${name}`);
        await b.identities.revokeCredentialsOf(`robot:${name}`);
        out({ user: `robot$${name}`, secret: secret.secret, note: 'the secret is shown once' });
      }),
    );
  robots.command('list').action(
    run(async (b) => {
      out(
        (await b.identities.listRobots()).map((r) => ({
          name: r.name,
          user: `robot$${r.name}`,
          groups: r.groups,
          disabled: r.disabled,
          expiresAt: r.expiresAt && new Date(r.expiresAt).toISOString(),
          rotatedAt: new Date(r.rotatedAt).toISOString(),
          description: r.description,
        })),
      );
    }),
  );
  for (const [verb, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    robots.command(`${verb} <name>`).action(
      run(async (b, _c, name: string) => {
        if (!(await b.identities.updateRobot(name, { disabled }))) throw new UsageError(`no robot ${name}`);
        if (disabled) await b.identities.revokeCredentialsOf(`robot:${name}`);
        out(`robot ${name} ${verb}d`);
      }),
    );
  }
  robots.command('delete <name>').action(
    run(async (b, _c, name: string) => {
      if (!(await b.identities.deleteRobot(name))) throw new UsageError(`no robot ${name}`);
      await b.identities.revokeCredentialsOf(`robot:${name}`);
      out(`robot ${name} deleted`);
    }),
  );

  const oidc = admin.command('oidc').description('OIDC federation trust rules (CI jobs, Kubernetes service accounts)');
  oidc
    .command('add <name>')
    .requiredOption('--issuer <url>', "the tokens' iss, e.g. https://token.actions.githubusercontent.com")
    .option('--audience <aud>', "the aud the tokens must carry (default: the registry's service name)")
    .option('--claim <claim=pattern...>', 'a claim that must match a glob (* for any run of characters); repeatable')
    .option('--groups <list>', 'groups the federated identity is a member of')
    .option('--description <text>', 'what it is for', '')
    .action(
      run(
        async (
          b,
          config,
          name: string,
          o: { issuer: string; audience?: string; claim?: string[]; groups?: string; description: string },
        ) => {
          if (!NAME.test(name)) throw new UsageError(`invalid rule name "${name}"`);
          const claims: Record<string, string> = {};
          for (const c of o.claim ?? []) {
            const i = c.indexOf('=');
            if (i < 1) throw new UsageError(`--claim ${c}: use claim=pattern`);
            claims[c.slice(0, i)] = c.slice(i + 1);
          }
          if (Object.keys(claims).length === 0)
            throw new UsageError(
              'at least one --claim is required: a rule that matches every token of an issuer trusts all of its users',
            );
          await b.identities.putOidcRule({
            name,
            issuer: o.issuer,
            audience: o.audience ?? config.auth.service,
            claims,
            groups: list(o.groups),
            description: o.description,
            disabled: false,
          });
          out(`OIDC rule ${name} saved; bind roles to oidc:${name}`);
        },
      ),
    );
  oidc.command('list').action(run(async (b) => out(await b.identities.listOidcRules())));
  oidc.command('remove <name>').action(
    run(async (b, _c, name: string) => {
      if (!(await b.identities.deleteOidcRule(name))) throw new UsageError(`no OIDC rule ${name}`);
      out(`OIDC rule ${name} removed`);
    }),
  );

  const roles = admin.command('roles').description('role bindings: <principal> <role> <scope>');
  const checkBinding = (principal: string, scope: string) => {
    if (!bindingPrincipalUid(principal))
      throw new UsageError(
        `principal must be user:<name>, robot:<name>, oidc:<rule>, group:<name> or anonymous, got "${principal}"`,
      );
    if (!scopeUid(scope))
      throw new UsageError(`scope must be * (everything), a namespace ending in / or a repository, got "${scope}"`);
  };
  roles.command('bind <principal> <role> <scope>').action(
    run(async (b, _c, principal: string, role: string, scope: string) => {
      checkBinding(principal, scope);
      await b.identities.bindRole({ principal, role, scope });
      out(`${principal} is ${role} on ${scope}`);
    }),
  );
  roles.command('unbind <principal> <role> <scope>').action(
    run(async (b, _c, principal: string, role: string, scope: string) => {
      if (!(await b.identities.unbindRole({ principal, role, scope }))) throw new UsageError('no such binding');
      out(`${principal} is no longer ${role} on ${scope}`);
    }),
  );
  roles
    .command('list')
    .action(
      run(async (b) =>
        out((await b.identities.listRoleBindings()).map(({ principal, role, scope }) => ({ principal, role, scope }))),
      ),
    );

  const keys = admin
    .command('keys')
    .description('token signing keys, and the key-encryption keys of encryption at rest');
  keys
    .command('rotate')
    .description('sign new tokens with a new key; the old one verifies until its tokens expire')
    .action(
      run(async (b, config) => {
        const ring = new KeyRing(b.identities, (config.auth.tokenTtlSeconds + config.auth.uploadBindingSeconds) * 1000);
        await ring.init();
        const kid = await ring.rotate();
        out(`new signing key ${kid}; replicas switch to it within 30 s`);
      }),
    );
  keys.command('list').action(
    run(async (b) =>
      out(
        (await b.identities.listSigningKeys()).map((k) => ({
          kid: k.kid,
          alg: k.alg,
          createdAt: new Date(k.createdAt).toISOString(),
          retiredAt: k.retiredAt && new Date(k.retiredAt).toISOString(),
        })),
      ),
    ),
  );

  encryptionCommands(admin, keys, run);

  const labels = admin.command('labels').description('namespace and repository attributes that policies read');
  labels
    .command('set <name>')
    .option('--owner-team <group>', 'the owning team (a group)')
    .option('--sensitivity <label>', 'e.g. public, internal, restricted')
    .action(
      run(async (b, _c, name: string, o: { ownerTeam?: string; sensitivity?: string }) => {
        if (!scopeUid(name) || name === '*')
          throw new UsageError(`labels apply to a namespace (ending in /) or a repository, got "${name}"`);
        await b.identities.setLabels({ name, ownerTeam: o.ownerTeam, sensitivity: o.sensitivity });
        out(`labels of ${name} set`);
      }),
    );
  labels.command('list').action(run(async (b) => out(await b.identities.listLabels())));

  admin
    .command('tokens')
    .description('personal access and refresh tokens')
    .command('revoke <id>')
    .action(
      run(async (b, _c, id: string) => {
        if (!(await b.identities.revokeCredential(id))) throw new UsageError(`no active token ${id}`);
        out(`token ${id} revoked`);
      }),
    );
}
