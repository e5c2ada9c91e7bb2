/**
 * A signing or verification problem the user can act on (a bad key file, a missing token, a tag that
 * does not exist). The CLI prints the message alone and exits 1, as cosign does for every failure.
 */
export class SigningError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SigningError';
  }
}
