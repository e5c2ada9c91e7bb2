import type { Rgw } from './rgw';

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __cairnRgw?: Rgw }).__cairnRgw?.stop();
}
