import { parseChunkRange, parseRangeHeader } from '../../src/distribution/ranges';

describe('chunk Content-Range', () => {
  it('parses the spec form and common variants', () => {
    expect(parseChunkRange('0-99')).toEqual({ start: 0, end: 99 });
    expect(parseChunkRange('bytes 100-199/*')).toEqual({ start: 100, end: 199 });
    expect(parseChunkRange('bytes=5-5')).toEqual({ start: 5, end: 5 });
  });
  it.each(['', 'abc', '-1-5', '5-', '1.5-3', '0-99999999999999999'])('refuses %j as BLOB_UPLOAD_INVALID 400', (h) => {
    expect(() => parseChunkRange(h)).toThrow(expect.objectContaining({ code: 'BLOB_UPLOAD_INVALID', status: 400 }));
  });
  it('answers 416 when the end is before the start', () => {
    expect(() => parseChunkRange('10-5')).toThrow(expect.objectContaining({ status: 416 }));
  });
});

describe('blob Range header', () => {
  it('serves single ranges', () => {
    expect(parseRangeHeader('bytes=0-9', 100)).toEqual({ start: 0, end: 9 });
    expect(parseRangeHeader('bytes=90-', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRangeHeader('bytes=-10', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRangeHeader('bytes=50-1000', 100)).toEqual({ start: 50, end: 99 });
    expect(parseRangeHeader('bytes=-1000', 100)).toEqual({ start: 0, end: 99 });
  });
  it('ignores what it does not serve', () => {
    expect(parseRangeHeader(undefined, 100)).toBeUndefined();
    expect(parseRangeHeader('bytes=0-1,5-6', 100)).toBeUndefined();
    expect(parseRangeHeader('items=0-1', 100)).toBeUndefined();
    expect(parseRangeHeader('bytes=-', 100)).toBeUndefined();
  });
  it('says when a range cannot be satisfied', () => {
    expect(parseRangeHeader('bytes=100-', 100)).toBe('unsatisfiable');
    expect(parseRangeHeader('bytes=5-4', 100)).toBe('unsatisfiable');
    expect(parseRangeHeader('bytes=-0', 100)).toBe('unsatisfiable');
    expect(parseRangeHeader('bytes=0-0', 0)).toBe('unsatisfiable');
  });
});
