import { parseManifest } from '../../src/oci/manifest-parser';
import { MediaTypes } from '../../src/oci/media-types';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const desc = (mediaType: string, c: string, extra: object = {}) => ({ mediaType, digest: d(c), size: 10, ...extra });
const buf = (o: unknown) => Buffer.from(JSON.stringify(o));

describe('manifest parsing', () => {
  it('extracts blobs, subject and artifactType of an OCI image manifest', () => {
    const p = parseManifest(
      buf({
        schemaVersion: 2,
        mediaType: MediaTypes.ociManifest,
        config: desc('application/vnd.cncf.model.config.v1+json', 'a'),
        layers: [
          desc('application/vnd.cncf.model.weight.v1.raw', 'b'),
          desc('application/vnd.cncf.model.weight.v1.raw', 'b'),
        ],
        subject: desc(MediaTypes.ociManifest, 'c'),
        annotations: { k: 'v' },
      }),
      undefined,
    );
    expect(p).toMatchObject({
      mediaType: MediaTypes.ociManifest,
      artifactType: 'application/vnd.cncf.model.config.v1+json',
      blobs: [d('a'), d('b')],
      manifests: [],
    });
    expect(p.subject?.digest).toBe(d('c'));
    expect(p.annotations).toEqual({ k: 'v' });
  });
  it('prefers artifactType over config.mediaType', () => {
    const p = parseManifest(
      buf({
        schemaVersion: 2,
        mediaType: MediaTypes.ociManifest,
        artifactType: 'application/x.sig',
        config: desc(MediaTypes.ociEmpty, 'a'),
        layers: [],
      }),
      undefined,
    );
    expect(p.artifactType).toBe('application/x.sig');
  });
  it('takes the media type from Content-Type when the body has none', () => {
    const p = parseManifest(
      buf({ schemaVersion: 2, config: desc('application/x', 'a'), layers: [] }),
      `${MediaTypes.ociManifest}; charset=utf-8`,
    );
    expect(p.mediaType).toBe(MediaTypes.ociManifest);
  });
  it('extracts children of an index, skips non-distributable layers', () => {
    expect(
      parseManifest(
        buf({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [desc(MediaTypes.ociManifest, 'a')] }),
        undefined,
      ).manifests,
    ).toEqual([d('a')]);
    const p = parseManifest(
      buf({
        schemaVersion: 2,
        mediaType: MediaTypes.dockerManifest,
        config: desc('application/vnd.docker.container.image.v1+json', 'a'),
        layers: [desc('application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', 'f')],
      }),
      undefined,
    );
    expect(p.blobs).toEqual([d('a')]);
  });
  it('stores unknown manifest types as given', () => {
    expect(
      parseManifest(buf({ mediaType: 'application/vnd.example.thing+json', anything: [1] }), undefined),
    ).toMatchObject({ mediaType: 'application/vnd.example.thing+json', blobs: [] });
  });
  it.each([
    ['not JSON', Buffer.from('{'), undefined],
    ['an array', buf([1]), MediaTypes.ociManifest],
    ['no media type anywhere', buf({ schemaVersion: 2 }), undefined],
    [
      'conflicting media types',
      buf({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [] }),
      MediaTypes.ociManifest,
    ],
    ['schema 1', buf({ schemaVersion: 1, mediaType: MediaTypes.dockerSchema1 }), undefined],
    [
      'a wrong schemaVersion',
      buf({ schemaVersion: 3, mediaType: MediaTypes.ociManifest, config: desc('a/b', 'a'), layers: [] }),
      undefined,
    ],
    [
      'a bad config digest',
      buf({
        schemaVersion: 2,
        mediaType: MediaTypes.ociManifest,
        config: { mediaType: 'a/b', digest: 'sha256:xyz', size: 1 },
        layers: [],
      }),
      undefined,
    ],
    [
      'a negative size',
      buf({
        schemaVersion: 2,
        mediaType: MediaTypes.ociManifest,
        config: { mediaType: 'a/b', digest: d('a'), size: -1 },
        layers: [],
      }),
      undefined,
    ],
    [
      'layers not an array',
      buf({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: desc('a/b', 'a'), layers: {} }),
      undefined,
    ],
    ['an index without manifests', buf({ schemaVersion: 2, mediaType: MediaTypes.ociIndex }), undefined],
    [
      'annotations that are not strings',
      buf({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [], annotations: { a: 1 } }),
      undefined,
    ],
    [
      'a bad subject',
      buf({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [], subject: { digest: 'x' } }),
      undefined,
    ],
  ])('refuses %s with MANIFEST_INVALID', (_what, body, contentType) => {
    expect(() => parseManifest(body, contentType)).toThrow(
      expect.objectContaining({ code: 'MANIFEST_INVALID', status: 400 }),
    );
  });
});
