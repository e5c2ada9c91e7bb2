import { CAIRN_ROUTES } from '../artifacts/api/routes';
import type { ArtifactApiDeps } from '../artifacts/api/deps';
import { OCI_ROUTES, type DistributionDeps, type Route } from '../distribution/router';

/** What every /v2/ handler may use, wired by the composition root. */
export type V2Deps = DistributionDeps & ArtifactApiDeps;

/**
 * Everything under /v2/, joined where the HTTP app is assembled: Cairn's own API first (under names no
 * repository can have: a path component never starts with _), then the OCI distribution API.
 */
export const V2_ROUTES: Route<V2Deps>[] = [...CAIRN_ROUTES, ...OCI_ROUTES];
