import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type * as Cedar from '@cedar-policy/cedar-wasm/nodejs';
import { cedar } from './cedar-engine';
import type { IdentityStore, ResourceLabels, RoleBinding } from '../auth/identity-store';
import type { Logger } from '../observability/logger';
import type { AuthzRequest, Authorizer, Decision } from './authorizer';
import { bindingPrincipalUid, requestEntities, scopeUid } from './cedar-entities';
import { CEDAR_SCHEMA } from './schema';

export class PolicyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyError';
  }
}

/** The policy texts of a directory, each named by its `@id` or by file and position. */
export interface PolicySources {
  staticPolicies: Record<string, string>;
  templates: Record<string, string>;
  /** Which file each id came from, for error messages. */
  origin: Record<string, string>;
}

const ID = /@id\(\s*"([^"]+)"\s*\)/;

export function readPolicyDir(dir: string): PolicySources {
  let files: string[];
  try {
    files = readdirSync(dir)
      .filter((f) => f.endsWith('.cedar'))
      .sort();
  } catch (err) {
    throw new PolicyError(`cannot read policy directory ${dir}: ${(err as Error).message}`);
  }
  const out: PolicySources = { staticPolicies: {}, templates: {}, origin: {} };
  for (const file of files) {
    const text = readFileSync(path.join(dir, file), 'utf8');
    const parts = cedar.policySetTextToParts(text);
    if (parts.type === 'failure') throw new PolicyError(`${file}: ${parts.errors.map((e) => e.message).join('; ')}`);
    const add = (kind: 'staticPolicies' | 'templates', texts: string[]) =>
      texts.forEach((t, i) => {
        const id = ID.exec(t)?.[1] ?? `${file}#${kind === 'templates' ? 't' : ''}${i}`;
        if (out.origin[id]) throw new PolicyError(`${file}: policy id "${id}" is also used in ${out.origin[id]}`);
        out[kind][id] = t;
        out.origin[id] = file;
      });
    add('staticPolicies', parts.policies);
    add('templates', parts.policy_templates);
  }
  return out;
}

/** Role bindings as template links; a binding naming a missing role or a bad scope is reported, not linked. */
export function linksOf(
  bindings: RoleBinding[],
  templates: Record<string, string>,
): { links: Cedar.TemplateLink[]; problems: string[] } {
  const links: Cedar.TemplateLink[] = [];
  const problems: string[] = [];
  for (const b of bindings) {
    const principal = bindingPrincipalUid(b.principal);
    const resource = scopeUid(b.scope);
    if (!templates[b.role])
      problems.push(`role binding ${b.principal} → ${b.role} on ${b.scope}: no policy template has @id("${b.role}")`);
    else if (!principal) problems.push(`role binding ${b.principal} → ${b.role}: not a principal`);
    else if (!resource)
      problems.push(`role binding ${b.principal} → ${b.role}: scope ${b.scope} is not *, a namespace/ or a repository`);
    else
      links.push({
        templateId: b.role,
        newId: `${b.role}[${b.principal} on ${b.scope}]`,
        values: { '?principal': principal, '?resource': resource },
      });
  }
  return { links, problems };
}

function ipOf(address: string): string {
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return v4 ? v4[1]! : address || '0.0.0.0';
}

let instances = 0;

/**
 * Cedar policies from a directory plus role bindings and labels from the identity store, validated
 * against the schema in strict mode and pre-parsed (a decision is then about 0.1–0.2 ms). Reloaded
 * periodically; an invalid change keeps the last valid set and is logged, and an invalid set at start-up
 * refuses to start.
 */
export class CedarAuthorizer implements Authorizer {
  private readonly setId = `cairn-${++instances}`;
  private labels = new Map<string, ResourceLabels>();
  private signature = '';
  private timer: NodeJS.Timeout | undefined;
  /** Problems of the active set that did not prevent it (bindings to missing roles). */
  warnings: string[] = [];
  /** Called after a new policy set (files, bindings or labels changed) became active: the audit trail. */
  onLoad?: (summary: { sha256: string; policies: number; templates: number; bindings: number }) => void;
  /**
   * Decisions of the last second, keyed by everything they depend on: the same client asking the same
   * thing in a burst (a pull of many layers, a load test) is decided once. Cleared on every reload and
   * every second, so policy and time-window changes take effect at once.
   */
  // Never reassigned, and a double from the start: a field whose map or representation changes while
  // authorize() runs invalidates its optimised code mid-call, and that lazy deoptimisation crashed
  // Node 20's V8 under load (docs/performance.md).
  private readonly decisions = new Map<string, Decision>();
  private decisionsAt = Date.now();

  constructor(
    private readonly dir: string,
    private readonly store: IdentityStore | undefined,
    private readonly logger?: Logger,
  ) {}

  private static schemaParsed = false;

  /** Loads and activates the policies; throws PolicyError when they are invalid. */
  async load(): Promise<void> {
    if (!CedarAuthorizer.schemaParsed) {
      const r = cedar.preparseSchema('cairn', CEDAR_SCHEMA);
      if (r.type === 'failure') throw new PolicyError(`schema: ${r.errors.map((e) => e.message).join('; ')}`);
      CedarAuthorizer.schemaParsed = true;
    }
    const sources = readPolicyDir(this.dir);
    const bindings = this.store ? await this.store.listRoleBindings() : [];
    const labels = this.store ? await this.store.listLabels() : [];
    const signature = JSON.stringify([
      sources.staticPolicies,
      sources.templates,
      bindings.map((b) => [b.principal, b.role, b.scope]),
      labels,
    ]);
    if (signature === this.signature) return;
    const { links, problems } = linksOf(bindings, sources.templates);
    const policies: Cedar.PolicySet = {
      staticPolicies: sources.staticPolicies,
      templates: sources.templates,
      templateLinks: links,
    };
    const v = cedar.validate({ schema: CEDAR_SCHEMA, policies, validationSettings: { mode: 'strict' } });
    if (v.type === 'failure') throw new PolicyError(v.errors.map((e) => e.message).join('; '));
    if (v.validationErrors.length > 0) {
      throw new PolicyError(
        v.validationErrors
          .map((e) => `${sources.origin[e.policyId] ?? ''} policy "${e.policyId}": ${e.error.message}`)
          .join('; '),
      );
    }
    const parsed = cedar.preparsePolicySet(this.setId, policies);
    if (parsed.type === 'failure') throw new PolicyError(parsed.errors.map((e) => e.message).join('; '));
    this.labels = new Map(labels.map((l) => [l.name, l]));
    this.signature = signature;
    this.decisions.clear();
    this.warnings = problems;
    for (const p of problems) this.logger?.warn({ policyDir: this.dir }, p);
    const summary = {
      sha256: createHash('sha256').update(signature).digest('hex'),
      policies: Object.keys(sources.staticPolicies).length,
      templates: Object.keys(sources.templates).length,
      bindings: links.length,
    };
    this.logger?.info({ policyDir: this.dir, ...summary }, 'policies loaded');
    this.onLoad?.(summary);
  }

  /** Re-reads every `seconds`; a failing reload keeps the active set and says why. */
  watch(seconds: number): void {
    this.timer = setInterval(() => {
      this.load().catch((err) =>
        this.logger?.error(
          { err: (err as Error).message, policyDir: this.dir },
          'policy reload failed; the previous policies stay active',
        ),
      );
    }, seconds * 1000);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }

  authorize(r: AuthzRequest): Decision {
    if (r.context.now) return this.decide(r);
    const now = Date.now();
    if (now - this.decisionsAt >= 1000 || this.decisions.size > 10_000) {
      this.decisions.clear();
      this.decisionsAt = now;
    }
    const p = r.principal;
    let groups = '';
    for (let i = 0; i < p.groups.length; i++) groups += `${p.groups[i]},`;
    const name = r.resource.type === 'registry' ? '' : r.resource.name;
    const key = `${p.id}|${groups}|${p.mfa}|${p.federated?.subject ?? ''}|${r.action}|${r.resource.type}|${name}|${r.context.sourceIp}|${r.context.targetStage ?? ''}`;
    let d = this.decisions.get(key);
    if (!d) {
      d = this.decide(r);
      this.decisions.set(key, d);
    }
    return d;
  }

  private decide(r: AuthzRequest): Decision {
    const { principal, resource, entities } = requestEntities(r.principal, r.resource, this.labels);
    const now = r.context.now ?? new Date();
    const answer = cedar.statefulIsAuthorized({
      principal,
      action: { type: 'Cairn::Action', id: r.action },
      resource,
      context: {
        authenticated: r.principal.kind !== 'anonymous',
        mfa: r.principal.mfa,
        sourceIp: { __extn: { fn: 'ip', arg: ipOf(r.context.sourceIp) } },
        hour: now.getUTCHours(),
        weekday: now.getUTCDay(),
        now: Math.floor(now.getTime() / 1000),
        ...(r.context.targetStage ? { targetStage: r.context.targetStage } : {}),
      },
      preparsedSchemaName: 'cairn',
      validateRequest: true,
      preparsedPolicySetId: this.setId,
      entities,
    });
    // Plain loops on this path: it runs for every repository a listing shows, and a V8 deoptimisation
    // inside an inlined Array callback here crashed Node 20 under load (docs/performance.md).
    const errors: string[] = [];
    if (answer.type === 'failure') {
      for (const e of answer.errors) errors.push(e.message);
      return { allowed: false, policies: [], errors };
    }
    const d = answer.response;
    for (const e of d.diagnostics.errors) errors.push(`${e.policyId}: ${e.error.message}`);
    return { allowed: d.decision === 'allow', policies: d.diagnostics.reason, errors };
  }
}
