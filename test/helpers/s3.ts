import { randomBytes } from 'node:crypto';
import * as Minio from 'minio';

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

/** A direct client to the bucket a registry's `s3://` storage URL names, to look behind the registry. */
export function bucketOf(storageUrl: string): { client: Minio.Client; bucket: string } {
  const s3 = testS3();
  if (!s3) throw new Error('this run has no S3 (Ceph RGW)');
  const u = new URL(storageUrl);
  const endpoint = new URL(u.searchParams.get('endpoint')!);
  const client = new Minio.Client({
    endPoint: endpoint.hostname,
    port: Number(endpoint.port),
    useSSL: false,
    accessKey: s3.accessKey,
    secretKey: s3.secretKey,
    pathStyle: true,
    region: 'us-east-1',
  });
  return { client, bucket: u.hostname };
}
