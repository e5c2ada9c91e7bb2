import { readFileSync } from 'node:fs';

/**
 * An RFC 7512 PKCS#11 URI naming one key: `pkcs11:token=cairn;object=kek?module-path=/usr/lib/softhsm/
 * libsofthsm2.so&pin-source=file:/etc/cairn/hsm-pin`. The path names the token (label or serial) and
 * the key (label and/or id); the query names the module and where the PIN comes from. `pin-value` is
 * accepted as RFC 7512 allows it, but a PIN in a configuration file is a secret in a configuration file:
 * prefer `pin-source` (a file readable by the registry only) or `pin-env` (a variable, our extension).
 */
export interface Pkcs11Uri {
  modulePath: string;
  token?: string;
  serial?: string;
  object?: string;
  /** CKA_ID as bytes (`id=%01%02` in the URI). */
  id?: Buffer;
  pin?: string;
  /** The URI without its PIN, for messages and logs. */
  display: string;
}

export class Pkcs11UriError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Pkcs11UriError';
  }
}

function decode(value: string, what: string): Buffer {
  try {
    // Percent-decoding to bytes: an id is binary, and decodeURIComponent would refuse non-UTF-8.
    const bytes: number[] = [];
    for (let i = 0; i < value.length; i++) {
      if (value[i] === '%') {
        const hex = value.slice(i + 1, i + 3);
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new Error('bad escape');
        bytes.push(parseInt(hex, 16));
        i += 2;
      } else bytes.push(...Buffer.from(value[i]!, 'utf8'));
    }
    return Buffer.from(bytes);
  } catch {
    throw new Pkcs11UriError(`pkcs11: URI: ${what} is not percent-encoded correctly`);
  }
}

export function parsePkcs11Uri(uri: string, env: NodeJS.ProcessEnv = process.env): Pkcs11Uri {
  if (!uri.startsWith('pkcs11:')) throw new Pkcs11UriError(`not a pkcs11: URI: ${uri.slice(0, 100)}`);
  const body = uri.slice('pkcs11:'.length);
  const q = body.indexOf('?');
  const pathPart = q < 0 ? body : body.slice(0, q);
  const queryPart = q < 0 ? '' : body.slice(q + 1);
  const attrs = new Map<string, Buffer>();
  for (const piece of pathPart.split(';').filter(Boolean)) {
    const eq = piece.indexOf('=');
    if (eq < 0) throw new Pkcs11UriError(`pkcs11: URI: "${piece}" is not name=value`);
    attrs.set(piece.slice(0, eq), decode(piece.slice(eq + 1), piece.slice(0, eq)));
  }
  const query = new Map<string, string>();
  for (const piece of queryPart.split('&').filter(Boolean)) {
    const eq = piece.indexOf('=');
    if (eq < 0) throw new Pkcs11UriError(`pkcs11: URI: "${piece}" is not name=value`);
    query.set(piece.slice(0, eq), decode(piece.slice(eq + 1), piece.slice(0, eq)).toString('utf8'));
  }
  const type = attrs.get('type')?.toString();
  if (type && type !== 'secret-key' && type !== 'private')
    throw new Pkcs11UriError(`pkcs11: URI: type=${type} names no key Cairn can use`);
  const modulePath = query.get('module-path') ?? env.CAIRN_PKCS11_MODULE;
  if (!modulePath)
    throw new Pkcs11UriError(
      'pkcs11: URI: module-path is missing (or set CAIRN_PKCS11_MODULE to the HSM vendor library)',
    );
  const object = attrs.get('object')?.toString('utf8');
  const id = attrs.get('id');
  if (!object && !id) throw new Pkcs11UriError('pkcs11: URI: name the key with object=<label> or id=<CKA_ID>');
  let pin = query.get('pin-value');
  const pinSource = query.get('pin-source');
  const pinEnv = query.get('pin-env');
  if (pinSource) {
    const file = pinSource.startsWith('file:') ? new URL(pinSource).pathname : pinSource;
    try {
      pin = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new Pkcs11UriError(`pkcs11: URI: cannot read the PIN from ${file}: ${(err as Error).message}`);
    }
  } else if (pinEnv) {
    pin = env[pinEnv];
    if (pin === undefined) throw new Pkcs11UriError(`pkcs11: URI: the PIN variable ${pinEnv} is not set`);
  }
  const display = `pkcs11:${pathPart}${queryPart ? `?${queryPart.replace(/(^|&)pin-value=[^&]*/, '$1pin-value=***')}` : ''}`;
  return {
    modulePath,
    ...(attrs.has('token') ? { token: attrs.get('token')!.toString('utf8') } : {}),
    ...(attrs.has('serial') ? { serial: attrs.get('serial')!.toString('utf8') } : {}),
    ...(object ? { object } : {}),
    ...(id ? { id } : {}),
    ...(pin !== undefined ? { pin } : {}),
    display,
  };
}
