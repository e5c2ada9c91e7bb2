import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { FileKeyEncryptionKey, KeyFileError, WrappedKeyBroken, writeKeyFile } from '../../src/keys/key-encryption';

describe('file key-encryption key', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'cairn-kek-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is written owner-only, never over an existing file, and loads back as the same key', async () => {
    const file = path.join(dir, 'kek');
    const made = writeKeyFile(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(() => writeKeyFile(file)).toThrow(KeyFileError);
    const loaded = FileKeyEncryptionKey.fromUri(pathToFileURL(file).href);
    expect(loaded.id).toBe(made.id);
    const dataKey = randomBytes(32);
    expect(await loaded.unwrap(await made.wrap(dataKey))).toEqual(dataKey);
  });

  it('refuses a key file others can read, of the wrong length, or missing, naming the file', () => {
    const open = path.join(dir, 'open');
    writeFileSync(open, randomBytes(32), { mode: 0o644 });
    chmodSync(open, 0o644);
    expect(() => FileKeyEncryptionKey.fromUri(pathToFileURL(open).href)).toThrow(/readable by others.*chmod 600/);
    const short = path.join(dir, 'short');
    writeFileSync(short, randomBytes(16), { mode: 0o600 });
    expect(() => FileKeyEncryptionKey.fromUri(pathToFileURL(short).href)).toThrow(/holds 16 bytes, not 32/);
    expect(() => FileKeyEncryptionKey.fromUri(pathToFileURL(path.join(dir, 'none')).href)).toThrow(
      /cannot read the key-encryption key/,
    );
    expect(() => FileKeyEncryptionKey.fromUri('pkcs11:token=x')).toThrow(/not a file:\/\/ key URI/);
  });

  it('detects an altered wrapped key and names the key a data key was wrapped by', async () => {
    const a = new FileKeyEncryptionKey(randomBytes(32));
    const b = new FileKeyEncryptionKey(randomBytes(32));
    const wrapped = await a.wrap(randomBytes(32));
    const altered = Buffer.from(wrapped);
    altered[30] ^= 1;
    await expect(a.unwrap(altered)).rejects.toThrow(WrappedKeyBroken);
    await expect(b.unwrap(wrapped)).rejects.toThrow(`wrapped by key ${a.id}, not by key ${b.id}`);
    // The id is in the authenticated data: relabelling a wrapped key for another key does not help.
    const relabelled = Buffer.from(wrapped);
    Buffer.from(b.id, 'hex').copy(relabelled, 1);
    await expect(b.unwrap(relabelled)).rejects.toThrow(WrappedKeyBroken);
  });
});
