import { CAIRN_ROUTES } from '../artifacts/api/routes';
import { OCI_ROUTES, type Route } from '../distribution/router';

/**
 * Everything under /v2/, joined where the HTTP app is assembled: Cairn's own API first (under names no
 * repository can have: a path component never starts with _), then the OCI distribution API.
 */
export const V2_ROUTES: Route[] = [...CAIRN_ROUTES, ...OCI_ROUTES];
