import type { Route } from '../../distribution/router';
import type { ListingDeps } from '../../distribution/listing-deps';
import type { ArtifactApiDeps } from './deps';
import { browse, repo } from '../../distribution/requirements';
import { listReceipts } from '../../distribution/referrers';
import { actionFor } from '../../policy/lifecycle-rules';
import { getArtifact } from './artifact';
import { getImpact, getLineage } from './lineage';
import { markCompromised, moveLifecycle, targetStage } from './lifecycle';
import { search } from './search';
import { prefetch, type Prefetcher } from './prefetch';
import { getVerification } from './verify';
import { getQuotas, getReceiptKey, getRepositoryQuota, getSchema, getSchemas } from './info';

/**
 * Cairn's API beside the distribution API, guarded by the same gate: registry-wide resources under
 * /v2/_cairn/, per-artifact ones under /v2/<name>/_cairn/ (no repository path component starts with _).
 */
export const CAIRN_ROUTES: Route<ArtifactApiDeps & ListingDeps & { pullThrough?: Prefetcher | undefined }>[] = [
  {
    name: 'cairn-schemas',
    pattern: /^\/v2\/_cairn\/schemas\/?$/,
    needs: () => ({ kind: 'base' }),
    methods: { GET: (_s, _p, _req, res) => getSchemas(res) },
  },
  {
    name: 'cairn-schemas',
    pattern: /^\/v2\/_cairn\/schemas\/[^/]+$/,
    needs: () => ({ kind: 'base' }),
    methods: { GET: (_s, _p, _req, res, ctx) => getSchema(ctx.path.slice(ctx.path.lastIndexOf('/') + 1), res) },
  },
  {
    name: 'cairn-search',
    pattern: /^\/v2\/_cairn\/search$/,
    needs: () => ({ kind: 'catalog' }),
    methods: { GET: (s, _p, _req, res, ctx) => search(s, ctx, res) },
  },
  // A public key: verifiers fetch it without an account.
  {
    name: 'cairn-receipts',
    pattern: /^\/v2\/_cairn\/receipts\/key$/,
    needs: () => ({ kind: 'public' }),
    methods: { GET: (s, _p, _req, res) => getReceiptKey(s, res) },
  },
  {
    name: 'cairn-receipts',
    pattern: /^\/v2\/(.+)\/_cairn\/receipts\/([^/]+)$/,
    needs: repo(['pull']),
    methods: { GET: (s, p, _req, res, ctx) => listReceipts(s, p[0]!, p[1]!, res, ctx) },
  },
  {
    name: 'cairn-quotas',
    pattern: /^\/v2\/_cairn\/quotas$/,
    needs: () => ({ kind: 'catalog' }),
    methods: { GET: (s, _p, _req, res) => getQuotas(s, res) },
  },
  {
    name: 'cairn-artifact',
    pattern: /^\/v2\/(.+)\/_cairn\/artifacts\/([^/]+)$/,
    needs: browse(['pull']),
    methods: { GET: (s, p, _req, res, ctx) => getArtifact(s, p[0]!, p[1]!, ctx, res) },
  },
  {
    name: 'cairn-lineage',
    pattern: /^\/v2\/(.+)\/_cairn\/lineage\/([^/]+)$/,
    needs: browse(['pull']),
    methods: { GET: (s, p, _req, res, ctx) => getLineage(s, p[0]!, p[1]!, ctx, res) },
  },
  {
    name: 'cairn-impact',
    pattern: /^\/v2\/(.+)\/_cairn\/impact\/([^/]+)$/,
    needs: browse(['pull']),
    methods: { GET: (s, p, _req, res, ctx) => getImpact(s, p[0]!, p[1]!, ctx, res) },
  },
  {
    name: 'cairn-lifecycle',
    pattern: /^\/v2\/(.+)\/_cairn\/lifecycle\/([^/]+)$/,
    // Publishing moves need push, approving, deprecating and retiring need approve (see policies/).
    needs: (m, p, ctx) => {
      const to = targetStage(ctx);
      return { ...repo(['pull', actionFor(to)])(m, p), targetStage: to };
    },
    methods: { POST: (s, p, req, res, ctx) => moveLifecycle(s, p[0]!, p[1]!, req, res, ctx) },
  },
  {
    name: 'cairn-compromised',
    pattern: /^\/v2\/(.+)\/_cairn\/compromised\/([^/]+)$/,
    needs: repo(['pull', 'approve']),
    methods: { POST: (s, p, req, res, ctx) => markCompromised(s, p[0]!, p[1]!, req, res, ctx) },
  },
  {
    name: 'cairn-verify',
    pattern: /^\/v2\/(.+)\/_cairn\/verify\/([^/]+)$/,
    needs: repo(['pull']),
    methods: { GET: (s, p, _req, res) => getVerification(s, p[0]!, p[1]!, res) },
  },
  {
    name: 'cairn-prefetch',
    pattern: /^\/v2\/(.+)\/_cairn\/prefetch\/([^/]+)$/,
    needs: repo(['pull']),
    methods: { POST: (s, p, _req, res) => prefetch(s, p[0]!, p[1]!, res) },
  },
  {
    name: 'cairn-quota',
    pattern: /^\/v2\/(.+)\/_cairn\/quota$/,
    needs: repo(['pull']),
    methods: { GET: (s, p, _req, res) => getRepositoryQuota(s, p[0]!, res) },
  },
];
