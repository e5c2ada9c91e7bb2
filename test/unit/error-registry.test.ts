import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ERROR_CODES, OciError, type OciErrorCode } from '../../src/oci/errors';

/** docs/api.md's error tables are the registry, row for row; no code is answered with a status it does not list. */
describe('the error registry', () => {
  it('matches the tables in docs/api.md exactly: every code, its statuses, in its group', () => {
    const doc = readFileSync(path.join(__dirname, '..', '..', 'docs', 'api.md'), 'utf8');
    const section = doc.slice(doc.indexOf('## Error codes'), doc.indexOf('\n## ', doc.indexOf('## Error codes') + 5));
    const rows = [...section.matchAll(/^\| ([A-Z_]+) \| ([0-9, ]+) \|/gm)].map(
      (m) => [m[1]!, m[2]!.split(',').map((x) => Number(x.trim()))] as const,
    );
    const documented = new Map(rows);
    expect(rows.length).toBe(documented.size); // each code once
    const registry = new Map(
      Object.entries(ERROR_CODES).map(([code, spec]) => [code, [spec.status, ...('also' in spec ? spec.also : [])]]),
    );
    expect(Object.fromEntries(documented)).toEqual(Object.fromEntries(registry));
    // Cairn's own codes come after the distribution API's.
    const cairnTable = section.slice(section.indexOf("Cairn's APIs"));
    for (const [code, spec] of Object.entries(ERROR_CODES))
      expect([code, cairnTable.includes(`| ${code} |`)]).toEqual([code, spec.group === 'cairn']);
  });

  it('refuses to answer a code with a status its entry does not allow', () => {
    expect(() => new OciError('UNSUPPORTED', 'x', undefined, { status: 400 })).toThrow(/never answered with 400/);
    expect(() => new OciError('DENIED', 'x', undefined, { status: 409 })).toThrow();
    expect(new OciError('MANIFEST_INVALID', 'too large', undefined, { status: 413 }).status).toBe(413);
    for (const code of Object.keys(ERROR_CODES) as OciErrorCode[])
      expect(new OciError(code, 'x').status).toBe(ERROR_CODES[code].status);
  });
});
