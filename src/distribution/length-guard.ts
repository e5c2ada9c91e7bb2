import { Transform, type TransformCallback } from 'node:stream';

/**
 * Passes exactly `expected` bytes or fails. A blob GET has already promised its Content-Length; when the
 * store's bytes end early (or run long), the response must fail at once so that the client sees a broken
 * transfer, instead of a connection left open waiting for bytes that will never come.
 */
export class LengthMismatch extends Error {
  constructor(
    readonly seen: number,
    readonly expected: number,
  ) {
    super(
      seen > expected
        ? `stored bytes run past the ${expected} bytes announced`
        : `stored bytes ended after ${seen} of ${expected} bytes`,
    );
    this.name = 'LengthMismatch';
  }
}

export class LengthGuard extends Transform {
  private seen = 0;

  constructor(private readonly expected: number) {
    super({ highWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.expected) {
      done(new LengthMismatch(this.seen, this.expected));
      return;
    }
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    if (this.seen !== this.expected) done(new LengthMismatch(this.seen, this.expected));
    else done();
  }
}
