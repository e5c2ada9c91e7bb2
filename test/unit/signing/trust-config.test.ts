import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseTrustConfig, TrustConfigError } from '../../../src/signing/trust-config';

describe('trust.yaml: TUF sources', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cairn-trust-unit-'));
  writeFileSync(path.join(dir, 'root.json'), '{}');
  const parse = (text: string) => parseTrustConfig(text, 'trust.yaml', dir);

  it('reads mirrors with their initial root (relative to the policy directory) and a default refresh of a day', () => {
    const c = parse(
      'tuf:\n  - mirror: https://tuf-repo-cdn.sigstore.dev/\n  - mirror: http://tuf.internal:8080/repo\n    root: root.json\n    refreshSeconds: 600\n',
    );
    expect(c.tuf).toEqual([
      { mirror: 'https://tuf-repo-cdn.sigstore.dev', refreshSeconds: 86_400 },
      { mirror: 'http://tuf.internal:8080/repo', root: path.join(dir, 'root.json'), refreshSeconds: 600 },
    ]);
    expect(c.rootProblems).toEqual([]);
  });

  it('changes its version when a TUF source changes, so that signatures are checked again', () => {
    const a = parse('tuf:\n  - mirror: https://a.example\n');
    const b = parse('tuf:\n  - mirror: https://b.example\n');
    expect(a.version).not.toBe(b.version);
  });

  it.each([
    ['a mirror that is not http(s)', 'tuf:\n  - mirror: ftp://tuf.example\n', /tuf\.0\.mirror: an http\(s\) URL/],
    ['a mirror that is not a URL', 'tuf:\n  - mirror: tuf.example\n', /tuf\.0\.mirror/],
    [
      'a missing initial root',
      'tuf:\n  - mirror: https://tuf.example\n    root: nowhere.json\n',
      /TUF root for https:\/\/tuf\.example: ENOENT/,
    ],
    [
      'a refresh of zero seconds',
      'tuf:\n  - mirror: https://tuf.example\n    refreshSeconds: 0\n',
      /tuf\.0\.refreshSeconds/,
    ],
    ['an unknown field', 'tuf:\n  - mirror: https://tuf.example\n    roots: x\n', /tuf\.0/],
  ])('refuses %s', (_what, text, message) => {
    expect(() => parse(text)).toThrow(TrustConfigError);
    expect(() => parse(text)).toThrow(message);
  });
});
