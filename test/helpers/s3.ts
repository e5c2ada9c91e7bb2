import { randomBytes } from 'node:crypto';

/** The RGW the global setup started, or undefined when this run has none. */
export function testS3(): { endpoint: string; accessKey: string; secretKey: string } | undefined {
  const endpoint = process.env.CAIRN_TEST_S3_ENDPOINT;
  if (!endpoint) return undefined;
  return {
    endpoint,
    accessKey: process.env.CAIRN_TEST_S3_ACCESS_KEY!,
    secretKey: process.env.CAIRN_TEST_S3_SECRET_KEY!,
  };
}

export function uniqueBucket(): string {
  return `cairn-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}
