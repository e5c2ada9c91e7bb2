import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/**
 * One typed configuration. Sources, later ones winning: built-in defaults, the YAML file given with
 * --config, then CAIRN_* environment variables. An invalid value stops start-up with a ConfigError
 * naming the key.
 */
const storageUrl = z
  .string()
  .refine((s) => /^(file|s3):\/\//.test(s), 'must be file:///path or s3://bucket?endpoint=…');
const databaseUrl = z
  .string()
  .refine((s) => /^(sqlite|postgres|postgresql):\/\//.test(s), 'must be sqlite:///path or postgres://…');
const keyUri = z
  .string()
  .refine((s) => s.startsWith('file://') || s.startsWith('pkcs11:'), 'must be file:///path or a pkcs11: URI');
const sessionsUrl = z.string().refine((s) => s === 'memory' || /^rediss?:\/\//.test(s), 'must be memory or redis://…');
const listen = z
  .string()
  .refine(
    (s) => /^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/.test(s) && Number(s.split(':').pop()) <= 65535,
    'must be host:port',
  );

export const ConfigSchema = z
  .object({
    listen: listen.default('127.0.0.1:5000'),
    /**
     * read-only: a region that serves pulls from a read-only catalog (a PostgreSQL hot standby) and a
     * regional copy of the storage; writes are refused naming `primary`, pull records go to the primary.
     */
    mode: z.enum(['read-write', 'read-only']).default('read-write'),
    /** The primary registry's URL: named in the refusals of a read-only region, and where its audit records go. */
    primary: z.string().url().optional(),
    dataDir: z.string().min(1).default('./data'),
    /**
     * Defaults to file://<dataDir>/blobs. Or `{ url, routes }`: blobs of repositories matching a route's
     * patterns are kept in that route's backend (an on-premises file system for `restricted/**`), the rest at `url`.
     */
    storage: z
      .union([
        storageUrl,
        z
          .object({
            url: storageUrl.optional(),
            routes: z
              .array(
                z
                  .object({
                    name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'lower-case letters, digits, . _ -'),
                    repositories: z.array(z.string().min(1)).min(1),
                    url: storageUrl,
                  })
                  .strict()
                  .refine((r) => r.name !== 'default', 'the route name default is the storage url itself'),
              )
              .default([])
              .refine((rs) => new Set(rs.map((r) => r.name)).size === rs.length, 'route names must be unique'),
          })
          .strict(),
      ])
      .optional(),
    /** Defaults to sqlite://<dataDir>/cairn.db. */
    database: databaseUrl.optional(),
    sessions: sessionsUrl.default('memory'),
    /** On SIGTERM, requests in flight get this long to finish before their connections are cut. */
    shutdownGraceSeconds: z.number().int().nonnegative().default(25),
    log: z
      .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
      .strict()
      .default({}),
    uploads: z
      .object({
        /** An upload untouched for this long is forgotten and its staged bytes removed. */
        idleTimeoutSeconds: z.number().int().positive().default(3600),
        /** How often the janitor looks for expired uploads. */
        janitorIntervalSeconds: z.number().int().positive().default(60),
      })
      .strict()
      .default({}),
    manifests: z
      .object({
        maxBytes: z
          .number()
          .int()
          .positive()
          .max(64 * 1024 * 1024)
          .default(4 * 1024 * 1024),
      })
      .strict()
      .default({}),
    blobs: z
      .object({
        /** Hash every full blob GET while streaming it and cut the response if the bytes do not match. */
        verifyOnRead: z.boolean().default(true),
        /** A blob this process hashed (on upload or a verified read) this recently is served without hashing again; 0 = hash every read. */
        verifiedTtlSeconds: z.number().int().nonnegative().default(300),
        /** tag: the first read of a blob hashes it, later reads check a keyed tag of those bytes; digest: hash every read. */
        verifyWith: z.enum(['tag', 'digest']).default('tag'),
        /** Answer blob GETs with a 307 to a presigned URL when the storage offers one (S3). */
        redirect: z.boolean().default(false),
        redirectTtlSeconds: z
          .number()
          .int()
          .positive()
          .max(7 * 24 * 3600)
          .default(300),
      })
      .strict()
      .default({}),
    gc: z
      .object({
        /** A blob or link younger than this is never collected: it may belong to a push still in progress. */
        graceSeconds: z.number().int().nonnegative().default(3600),
        /** How often `serve` prunes old drafts under governance.yaml's retention rules; 0: only `cairn retention`. */
        retentionIntervalSeconds: z.number().int().nonnegative().default(3600),
      })
      .strict()
      .default({}),
    /** Serve HTTPS directly (PEM files); without it, terminate TLS in front (ingress, load balancer). */
    tls: z
      .object({
        certFile: z.string().min(1),
        keyFile: z.string().min(1),
        /** How often the files are checked for a renewed certificate (cert-manager, certbot). */
        reloadIntervalSeconds: z.number().int().positive().default(60),
      })
      .strict()
      .optional(),
    auth: z
      .object({
        /** token: the Docker / OCI token flow, deny by default. none: no authentication at all (local experiments only). */
        mode: z.enum(['token', 'none']).default('token'),
        /** The service name clients send to /token and the tokens' audience. */
        service: z.string().min(1).default('cairn'),
        /** Public URL of the token endpoint in challenges; by default derived from the request's Host. */
        realm: z.string().url().optional(),
        tokenTtlSeconds: z.number().int().min(30).max(3600).default(300),
        refreshTokenTtlSeconds: z
          .number()
          .int()
          .positive()
          .default(30 * 24 * 3600),
        /** How long a web console sign-in lasts; the console's access tokens are renewed within it. */
        consoleSessionSeconds: z
          .number()
          .int()
          .min(60)
          .default(8 * 3600),
        /** An upload may go on with the (expired) token that opened it for this long. */
        uploadBindingSeconds: z
          .number()
          .int()
          .positive()
          .default(24 * 3600),
        /** An ECDSA P-256 key in an HSM (pkcs11: URI) that signs every token; by default keys in the database sign. */
        signingKey: z
          .string()
          .refine((s) => s.startsWith('pkcs11:'), 'must be a pkcs11: URI')
          .optional(),
        /** Cedar policies; defaults to <dataDir>/policies, filled with the built-in roles on first start. */
        policyDir: z.string().min(1).optional(),
        /** How often policy files and role bindings are re-read. */
        policyReloadSeconds: z.number().int().positive().default(5),
        /** How long a replica may trust that a principal is not disabled or a credential not revoked. */
        revocationCheckSeconds: z.number().int().positive().max(30).default(10),
        lockout: z
          .object({
            attempts: z.number().int().positive().default(5),
            lockSeconds: z.number().int().positive().default(900),
          })
          .strict()
          .default({}),
        /** Accept OIDC issuers over plain http (tests and labs only). */
        allowHttpIssuers: z.boolean().default(false),
        /** Single sign-on for people in the web console: an OpenID provider, authorization code + PKCE. */
        sso: z
          .object({
            issuer: z.string().url(),
            clientId: z.string().min(1),
            /** A confidential client's secret (file or variable); a public client has none (PKCE alone). */
            clientSecretFile: z.string().min(1).optional(),
            clientSecretEnv: z.string().min(1).optional(),
            /** The button's words: "Sign in with <displayName>". */
            displayName: z.string().min(1).default('single sign-on'),
            /** The ID token claim that is the user name (a local account of that name is made on first sign-in). */
            usernameClaim: z.string().min(1).default('preferred_username'),
            /** The ID token claim listing the person's groups (role bindings name them as group:<name>). */
            groupsClaim: z.string().min(1).default('groups'),
            /** An ID token whose `amr` holds one of these was authenticated with a second factor. */
            mfaAmr: z.array(z.string().min(1)).default(['mfa', 'otp', 'hwk', 'swk', 'sc']),
            scopes: z.array(z.string().min(1)).default(['openid', 'profile', 'email']),
          })
          .strict()
          .optional(),
        /** Take the source address from X-Forwarded-For (only behind a proxy that sets it). */
        trustProxy: z.boolean().default(false),
      })
      .strict()
      .default({}),
    audit: z
      .object({
        /** The log's name in its checkpoints (C2SP origin line) and the signature's key name. */
        origin: z
          .string()
          .regex(/^[A-Za-z0-9._/:-]+$/)
          .default('cairn'),
        /** Ed25519 private key (PKCS#8 PEM) that signs checkpoints; created on first start. Keep it out of the database. */
        keyFile: z.string().min(1).optional(),
        /** Instead of keyFile: an Ed25519 key in an HSM, as an RFC 7512 pkcs11: URI (it signs receipts too). */
        key: z
          .string()
          .refine((s) => s.startsWith('pkcs11:'), 'must be a pkcs11: URI')
          .optional(),
        checkpointSeconds: z.number().int().positive().default(5),
        /** Record pulls (manifest and blob GETs) too, not only changes. */
        pulls: z.boolean().default(true),
        /** Where each new checkpoint is also written: a directory, or an http(s) URL it is POSTed to. */
        witness: z.string().min(1).optional(),
        /**
         * Witnesses (another Cairn, or any C2SP tlog-witness) each new checkpoint is submitted to for a
         * cosignature: `url` is its add-checkpoint URL, `verifier` its cosignature key (GET /witness/key).
         */
        witnesses: z.array(z.object({ url: z.string().url(), verifier: z.string().min(1) }).strict()).default([]),
        /** Read-only regions whose audit records (pulls) this primary takes in, by their verifier key (GET /audit/key). */
        regions: z.array(z.string().min(1)).default([]),
        /**
         * Sign a receipt for every manifest push (an in-toto statement with the pusher, time, source and
         * the push's place in this log with its inclusion proof), served at
         * GET /v2/<name>/_cairn/receipts/<digest>.
         */
        receipts: z.boolean().default(true),
        /**
         * Also list receipts in the OCI referrers API. Off by default: that list is what clients pushed
         * (the official conformance suite and cosign-style tools count it).
         */
        receiptsAsReferrers: z.boolean().default(false),
        /**
         * Receipts are signed in the background, in batches, from the audit log: how long the issuer
         * gathers pushes before a batch (bigger batches cost less per receipt; a receipt appears later).
         */
        receiptDelayMs: z.number().int().min(0).max(600_000).default(50),
      })
      .strict()
      .default({}),
    integrity: z
      .object({
        /** Re-hash every stored blob in the background, one full pass after another, at this rate. */
        scrubBytesPerSecond: z
          .number()
          .int()
          .nonnegative()
          .default(32 * 1024 * 1024),
        /** Pause between two full passes. 0 turns the background scrubber off (`cairn scrub` still works). */
        scrubIntervalSeconds: z
          .number()
          .int()
          .nonnegative()
          .default(24 * 3600),
        /** Integrity failures are POSTed here as JSON (besides the log, the metrics and the audit log). */
        alertWebhook: z.string().url().optional(),
      })
      .strict()
      .default({}),
    rateLimits: z
      .object({
        /** memory (per process) or a redis:// URL shared by the replicas. */
        backend: sessionsUrl.default('memory'),
        perIdentity: z
          .object({ perSecond: z.number().positive().default(100), burst: z.number().int().positive().default(1000) })
          .strict()
          .default({}),
        perAddress: z
          .object({ perSecond: z.number().positive().default(200), burst: z.number().int().positive().default(1000) })
          .strict()
          .default({}),
        /** Failed logins per source address. */
        loginFailures: z
          .object({ perSecond: z.number().positive().default(0.2), burst: z.number().int().positive().default(10) })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
    catalog: z
      .object({ pageSizeMax: z.number().int().positive().default(10000) })
      .strict()
      .default({}),
    /** This registry as a witness of other Cairn logs (docs/audit.md#witnesses). */
    witness: z
      .object({
        /** The logs this registry cosigns, by their verifier key (their GET /audit/key verifierKey). */
        logs: z.array(z.string().min(1)).default([]),
      })
      .strict()
      .default({}),
    /** Pull-through caches of upstream registries (docs/replication.md#pull-through-caches). */
    proxies: z
      .array(
        z
          .object({
            /** The local namespace: a pull of `<prefix>/<name>` is served from `<upstream>/<name>`. */
            prefix: z
              .string()
              .regex(/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/, 'a repository name prefix'),
            /** The upstream registry's base URL. */
            upstream: z.string().url(),
            username: z.string().min(1).optional(),
            passwordFile: z.string().min(1).optional(),
            passwordEnv: z.string().min(1).optional(),
            /** A tag is asked of the upstream again when it was last checked this long ago; 0: at every pull. */
            tagTtlSeconds: z.number().int().nonnegative().default(300),
          })
          .strict()
          .refine((p) => !(p.passwordFile && p.passwordEnv), 'give passwordFile or passwordEnv, not both'),
      )
      .default([])
      .refine(
        (ps) => ps.every((p, i) => ps.every((q, j) => i === j || !`${q.prefix}/`.startsWith(`${p.prefix}/`))),
        'proxy prefixes must not overlap',
      ),
    /** Push replication to other registries (docs/replication.md). */
    replication: z
      .object({
        targets: z
          .array(
            z
              .object({
                /** Names the target in status, metrics, the CLI and its lease and position in the catalog. */
                name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'lower-case letters, digits, . _ -'),
                /** The target registry's base URL: another Cairn or any OCI registry. */
                url: z.string().url(),
                username: z.string().min(1).optional(),
                /** A file holding the password or token (a mounted secret), read at each (re)connection. */
                passwordFile: z.string().min(1).optional(),
                /** The environment variable holding it, instead of a file. */
                passwordEnv: z.string().min(1).optional(),
                // Repository patterns (`models/**`; `*` within a segment, `**` across, as in governance.yaml); by default all.
                repositories: z.array(z.string().min(1)).default(['**']),
                /** Replicate only artifacts at one of these stages (promotion then triggers it); by default all. */
                stages: z.array(z.enum(['draft', 'candidate', 'approved', 'deprecated', 'retired'])).optional(),
                /** Delete manifests and tags on the target when they are deleted here. */
                deletes: z.boolean().default(false),
                /**
                 * The target is a Cairn pull-through cache of this registry under this prefix: instead of
                 * pushing, it is told to prefetch each artifact (with `stages`, when it is promoted).
                 */
                prefetch: z
                  .string()
                  .regex(
                    /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/,
                    'a repository name prefix',
                  )
                  .optional(),
              })
              .strict()
              .refine((t) => !(t.passwordFile && t.passwordEnv), 'give passwordFile or passwordEnv, not both'),
          )
          .default([])
          .refine((ts) => new Set(ts.map((t) => t.name)).size === ts.length, 'target names must be unique'),
        /** How often a replica looks for changes that arrived at another replica (its own wake it at once). */
        sweepSeconds: z.number().int().positive().default(5),
        /** The longest wait between two attempts at a target that keeps failing (backoff doubles up to it). */
        retryMaxSeconds: z.number().int().positive().default(300),
      })
      .strict()
      .default({}),
    /** Envelope encryption of blob bytes at rest (docs/security.md). */
    encryption: z
      .object({
        /** The key-encryption key: file:///path (made by `cairn admin keys create`) or an RFC 7512 pkcs11: URI. */
        key: keyUri.optional(),
        /** Keys rotated out that still wrap data keys; dropped once `cairn admin keys status` shows none left. */
        previousKeys: z.array(keyUri).default([]),
        /** How often `serve` re-wraps data keys still wrapped by a previous key (one replica at a time); 0: only `cairn admin keys rewrap`. */
        rewrapIntervalSeconds: z.number().int().nonnegative().default(3600),
        /** How long a replica keeps an unwrapped data key in memory: the most an erased key stays usable elsewhere. */
        keyCacheSeconds: z.number().int().nonnegative().default(60),
      })
      .strict()
      .default({}),
  })
  .strict();

export type ConfigInput = z.input<typeof ConfigSchema>;
export type StorageRouteConfig = { name: string; repositories: string[]; url: string };
export type Config = Omit<z.output<typeof ConfigSchema>, 'storage'> & {
  storage: string;
  /** `storage.routes`: the backends some repositories' blobs are kept in instead of `storage`. */
  storageRoutes: StorageRouteConfig[];
  database: string;
  auth: { policyDir: string };
  audit: { keyFile: string };
};

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** CAIRN_* variable → config path, with how to read its value. */
const ENV: Record<string, { key: string[]; type: 'string' | 'int' | 'number' | 'bool' }> = {
  CAIRN_LISTEN: { key: ['listen'], type: 'string' },
  CAIRN_MODE: { key: ['mode'], type: 'string' },
  CAIRN_PRIMARY: { key: ['primary'], type: 'string' },
  CAIRN_DATA_DIR: { key: ['dataDir'], type: 'string' },
  CAIRN_STORAGE: { key: ['storage'], type: 'string' },
  CAIRN_DATABASE: { key: ['database'], type: 'string' },
  CAIRN_SESSIONS: { key: ['sessions'], type: 'string' },
  CAIRN_LOG_LEVEL: { key: ['log', 'level'], type: 'string' },
  CAIRN_UPLOAD_IDLE_TIMEOUT: { key: ['uploads', 'idleTimeoutSeconds'], type: 'int' },
  CAIRN_UPLOAD_JANITOR_INTERVAL: { key: ['uploads', 'janitorIntervalSeconds'], type: 'int' },
  CAIRN_MAX_MANIFEST_BYTES: { key: ['manifests', 'maxBytes'], type: 'int' },
  CAIRN_VERIFY_ON_READ: { key: ['blobs', 'verifyOnRead'], type: 'bool' },
  CAIRN_VERIFIED_TTL: { key: ['blobs', 'verifiedTtlSeconds'], type: 'int' },
  CAIRN_VERIFY_WITH: { key: ['blobs', 'verifyWith'], type: 'string' },
  CAIRN_BLOB_REDIRECT: { key: ['blobs', 'redirect'], type: 'bool' },
  CAIRN_BLOB_REDIRECT_TTL: { key: ['blobs', 'redirectTtlSeconds'], type: 'int' },
  CAIRN_GC_GRACE: { key: ['gc', 'graceSeconds'], type: 'int' },
  CAIRN_RETENTION_INTERVAL: { key: ['gc', 'retentionIntervalSeconds'], type: 'int' },
  CAIRN_SHUTDOWN_GRACE: { key: ['shutdownGraceSeconds'], type: 'int' },
  CAIRN_AUTH: { key: ['auth', 'mode'], type: 'string' },
  CAIRN_AUTH_SERVICE: { key: ['auth', 'service'], type: 'string' },
  CAIRN_AUTH_REALM: { key: ['auth', 'realm'], type: 'string' },
  CAIRN_TOKEN_TTL: { key: ['auth', 'tokenTtlSeconds'], type: 'int' },
  CAIRN_POLICY_DIR: { key: ['auth', 'policyDir'], type: 'string' },
  CAIRN_TOKEN_SIGNING_KEY: { key: ['auth', 'signingKey'], type: 'string' },
  CAIRN_TRUST_PROXY: { key: ['auth', 'trustProxy'], type: 'bool' },
  CAIRN_RATE_LIMITS: { key: ['rateLimits', 'backend'], type: 'string' },
  CAIRN_RATE_ADDRESS_PER_SECOND: { key: ['rateLimits', 'perAddress', 'perSecond'], type: 'number' },
  CAIRN_RATE_ADDRESS_BURST: { key: ['rateLimits', 'perAddress', 'burst'], type: 'int' },
  CAIRN_RATE_IDENTITY_PER_SECOND: { key: ['rateLimits', 'perIdentity', 'perSecond'], type: 'number' },
  CAIRN_RATE_IDENTITY_BURST: { key: ['rateLimits', 'perIdentity', 'burst'], type: 'int' },
  CAIRN_AUDIT_KEY_FILE: { key: ['audit', 'keyFile'], type: 'string' },
  CAIRN_AUDIT_KEY: { key: ['audit', 'key'], type: 'string' },
  CAIRN_AUDIT_WITNESS: { key: ['audit', 'witness'], type: 'string' },
  CAIRN_AUDIT_PULLS: { key: ['audit', 'pulls'], type: 'bool' },
  CAIRN_AUDIT_RECEIPTS: { key: ['audit', 'receipts'], type: 'bool' },
  CAIRN_AUDIT_RECEIPTS_AS_REFERRERS: { key: ['audit', 'receiptsAsReferrers'], type: 'bool' },
  CAIRN_AUDIT_RECEIPT_DELAY_MS: { key: ['audit', 'receiptDelayMs'], type: 'int' },
  CAIRN_AUDIT_ORIGIN: { key: ['audit', 'origin'], type: 'string' },
  CAIRN_SCRUB_RATE: { key: ['integrity', 'scrubBytesPerSecond'], type: 'int' },
  CAIRN_SCRUB_INTERVAL: { key: ['integrity', 'scrubIntervalSeconds'], type: 'int' },
  CAIRN_ALERT_WEBHOOK: { key: ['integrity', 'alertWebhook'], type: 'string' },
  CAIRN_TLS_CERT: { key: ['tls', 'certFile'], type: 'string' },
  CAIRN_TLS_KEY: { key: ['tls', 'keyFile'], type: 'string' },
  CAIRN_ENCRYPTION_KEY: { key: ['encryption', 'key'], type: 'string' },
  CAIRN_ENCRYPTION_KEY_CACHE: { key: ['encryption', 'keyCacheSeconds'], type: 'int' },
  CAIRN_ENCRYPTION_REWRAP_INTERVAL: { key: ['encryption', 'rewrapIntervalSeconds'], type: 'int' },
};

function setPath(target: Record<string, unknown>, keys: string[], value: unknown): void {
  let node = target;
  for (const k of keys.slice(0, -1)) {
    if (typeof node[k] !== 'object' || node[k] === null) node[k] = {};
    node = node[k] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]!] = value;
}

function envValue(name: string, raw: string, type: 'string' | 'int' | 'number' | 'bool'): unknown {
  if (type === 'string') return raw;
  if (type === 'number') {
    if (!/^\d+(\.\d+)?$/.test(raw.trim())) throw new ConfigError(`${name}: must be a number, got "${raw}"`);
    return Number(raw.trim());
  }
  if (type === 'int') {
    if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`${name}: must be a whole number, got "${raw}"`);
    return Number(raw.trim());
  }
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(`${name}: must be true or false, got "${raw}"`);
}

export interface LoadOptions {
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Values that win over everything (tests, CLI flags). */
  overrides?: ConfigInput;
}

export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  let input: Record<string, unknown> = {};
  if (options.file) {
    let text: string;
    try {
      text = readFileSync(options.file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${options.file}: ${(err as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text);
    } catch (err) {
      throw new ConfigError(`config file ${options.file} is not valid YAML: ${(err as Error).message}`);
    }
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== 'object' || Array.isArray(parsed)) {
        throw new ConfigError(`config file ${options.file} must hold a mapping of keys`);
      }
      input = parsed as Record<string, unknown>;
    }
  }
  for (const [name, spec] of Object.entries(ENV)) {
    const raw = env[name];
    if (raw !== undefined && raw !== '') setPath(input, spec.key, envValue(name, raw, spec.type));
  }
  if (options.overrides) input = deepMerge(input, options.overrides as Record<string, unknown>);
  return validateConfig(input);
}

export function validateConfig(input: unknown): Config {
  const result = ConfigSchema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = issue.path.join('.') || '(root)';
    const message = issue.code === 'unrecognized_keys' ? `unknown key(s) ${issue.keys.join(', ')}` : issue.message;
    throw new ConfigError(`invalid configuration: ${key}: ${message}`);
  }
  const c = result.data;
  if (c.mode === 'read-only' && !c.primary)
    throw new ConfigError('invalid configuration: primary: a read-only region must name its primary registry');
  const dataDir = path.resolve(c.dataDir);
  return {
    ...c,
    dataDir,
    storage: (typeof c.storage === 'string' ? c.storage : c.storage?.url) ?? `file://${path.join(dataDir, 'blobs')}`,
    storageRoutes: typeof c.storage === 'object' ? c.storage.routes : [],
    database: c.database ?? `sqlite://${path.join(dataDir, 'cairn.db')}`,
    auth: { ...c.auth, policyDir: path.resolve(c.auth.policyDir ?? path.join(dataDir, 'policies')) },
    audit: { ...c.audit, keyFile: path.resolve(c.audit.keyFile ?? path.join(dataDir, 'audit-key.pem')) },
  };
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur)
        ? deepMerge(cur as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}
