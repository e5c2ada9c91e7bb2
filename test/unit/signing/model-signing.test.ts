import { createHash } from 'node:crypto';
import { artifactFiles, modelSigningProblem, MODEL_SIGNING_V1 } from '../../../src/signing/model-signing';

const hex = (s: string) => createHash('sha256').update(s).digest('hex');
const layer = (
  name: string,
  content: string,
  mediaType = 'application/vnd.cncf.model.weight.v1.raw',
  annotation = 'org.cncf.model.filepath',
) => ({ mediaType, digest: `sha256:${hex(content)}`, size: content.length, annotations: { [annotation]: name } });
const statement = (files: Record<string, string>) => {
  const resources = Object.keys(files)
    .sort()
    .map((name) => ({ name, algorithm: 'sha256', digest: hex(files[name]!) }));
  const root = createHash('sha256')
    .update(Buffer.concat(resources.map((r) => Buffer.from(r.digest, 'hex'))))
    .digest('hex');
  return {
    subject: [{ name: 'm', digest: { sha256: root } }],
    predicateType: MODEL_SIGNING_V1,
    predicate: { resources },
  };
};

describe('model signing: a signature bound to an artifact by its files', () => {
  it('names files by their file path annotation (ModelPack, the pre-rename name, or the OCI title)', () => {
    const files = artifactFiles([
      layer('a.bin', 'a'),
      layer('b.bin', 'b', undefined, 'org.cnai.model.filepath'),
      layer('c.md', 'c', 'text/markdown', 'org.opencontainers.image.title'),
      { mediaType: 'x', digest: `sha256:${hex('d')}`, size: 1 },
    ]);
    expect(files.map((f) => f.name)).toEqual(['a.bin', 'b.bin', 'c.md']);
  });

  it('accepts exactly the signed files, in any layer order', () => {
    const files = artifactFiles([layer('b.bin', 'b'), layer('a.bin', 'a')]);
    expect(modelSigningProblem(statement({ 'a.bin': 'a', 'b.bin': 'b' }), files)).toBeUndefined();
  });

  it('refuses archives, unknown subjects, empty artifacts and malformed statements', () => {
    expect(
      modelSigningProblem(
        statement({ dir: 'x' }),
        artifactFiles([layer('dir', 'x', 'application/vnd.cncf.model.weight.v1.tar+gzip')]),
      ),
    ).toMatch(/packed as an archive/);
    expect(modelSigningProblem(statement({ 'a.bin': 'a' }), undefined)).toMatch(/not in this repository/);
    expect(modelSigningProblem(statement({ 'a.bin': 'a' }), [])).toMatch(/no file layers/);
    expect(
      modelSigningProblem(
        { predicateType: MODEL_SIGNING_V1, subject: [], predicate: {} },
        artifactFiles([layer('a.bin', 'a')]),
      ),
    ).toMatch(/exactly one subject/);
    const bad = statement({ 'a.bin': 'a' });
    (bad.predicate.resources[0] as { algorithm: string }).algorithm = 'md5';
    expect(modelSigningProblem(bad, artifactFiles([layer('a.bin', 'a')]))).toMatch(/not a name with a sha256 digest/);
  });
});
