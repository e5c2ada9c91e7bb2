import type * as Pkcs11Js from 'pkcs11js';
import { KeyUnavailable } from './key-encryption';
import { parsePkcs11Uri, type Pkcs11Uri } from './pkcs11-uri';

type Handle = Buffer;

/**
 * One logged-in session on the token a `pkcs11:` URI names, through the vendor's PKCS#11 module (SoftHSM2
 * in tests). The key never leaves the device: Cairn hands it data to encrypt, decrypt or sign. pkcs11js
 * calls are synchronous and one session serves one call at a time, which Node's single thread guarantees.
 *
 * A call that fails because the device or session went away (token removed, HSM restarted, network HSM
 * unreachable) is retried once on a fresh session; if that fails too the caller gets KeyUnavailable,
 * which the registry answers with 503 and a failing /readyz, never with a wrong byte.
 */
export class HsmKey {
  private session: Handle | undefined;
  private key: Handle | undefined;

  private constructor(
    private readonly module: Pkcs11Js.PKCS11,
    private readonly lib: typeof Pkcs11Js,
    readonly uri: Pkcs11Uri,
    private readonly keyClass: number,
  ) {}

  /** Opens the key a URI names; `kind` is what it must be (a secret AES key, or a private signing key). */
  static open(uri: string, kind: 'secret' | 'private', env: NodeJS.ProcessEnv = process.env): HsmKey {
    const parsed = parsePkcs11Uri(uri, env);
    const lib = loadPkcs11js();
    const key = new HsmKey(
      moduleFor(lib, parsed.modulePath),
      lib,
      parsed,
      kind === 'secret' ? lib.CKO_SECRET_KEY : lib.CKO_PRIVATE_KEY,
    );
    key.connect();
    return key;
  }

  /**
   * Makes the AES-256 key a `pkcs11:` URI names, inside the token: sensitive and never extractable, so
   * it can encrypt and decrypt there and nowhere else. Refuses when a key by that name exists.
   */
  static generateAes(uri: string, env: NodeJS.ProcessEnv = process.env): void {
    HsmKey.generate(uri, env, (lib, label, id) => ({
      mechanism: { mechanism: lib.CKM_AES_KEY_GEN },
      secretTemplate: [
        { type: lib.CKA_CLASS, value: lib.CKO_SECRET_KEY },
        { type: lib.CKA_KEY_TYPE, value: lib.CKK_AES },
        { type: lib.CKA_VALUE_LEN, value: 32 },
        { type: lib.CKA_TOKEN, value: true },
        { type: lib.CKA_PRIVATE, value: true },
        { type: lib.CKA_SENSITIVE, value: true },
        { type: lib.CKA_EXTRACTABLE, value: false },
        { type: lib.CKA_ENCRYPT, value: true },
        { type: lib.CKA_DECRYPT, value: true },
        { type: lib.CKA_LABEL, value: label },
        ...(id ? [{ type: lib.CKA_ID, value: id }] : []),
      ],
    }));
  }

  /**
   * Makes a key (a secret key, or a key pair) in the token a URI names, after checking that no key of
   * that name exists there; `spec` gives the mechanism and templates for the URI's label and id.
   */
  static generate(
    uri: string,
    env: NodeJS.ProcessEnv,
    spec: (
      lib: typeof Pkcs11Js,
      label: string,
      id: Buffer | undefined,
    ) => {
      mechanism: Pkcs11Js.Mechanism;
      secretTemplate?: Pkcs11Js.Template;
      publicTemplate?: Pkcs11Js.Template;
      privateTemplate?: Pkcs11Js.Template;
    },
  ): void {
    const parsed = parsePkcs11Uri(uri, env);
    if (!parsed.object) throw new KeyUnavailable('name the new key with object=<label> in the pkcs11: URI');
    const lib = loadPkcs11js();
    const m = moduleFor(lib, parsed.modulePath);
    for (const keyClass of [lib.CKO_SECRET_KEY, lib.CKO_PRIVATE_KEY]) {
      const probe = new HsmKey(m, lib, parsed, keyClass);
      try {
        probe.connectOnce();
        probe.close();
        throw new KeyUnavailable(`a key already exists at ${parsed.display}`);
      } catch (err) {
        if (!/^no such key/.test((err as Error).message)) throw err;
      }
    }
    const session = m.C_OpenSession(
      new HsmKey(m, lib, parsed, lib.CKO_SECRET_KEY).findSlot(),
      lib.CKF_SERIAL_SESSION | lib.CKF_RW_SESSION,
    );
    try {
      if (parsed.pin !== undefined) {
        try {
          m.C_Login(session, lib.CKU_USER, parsed.pin);
        } catch (err) {
          if (!/CKR_USER_ALREADY_LOGGED_IN/.test((err as Error).message)) throw err;
        }
      }
      const s = spec(lib, parsed.object, parsed.id);
      if (s.secretTemplate) m.C_GenerateKey(session, s.mechanism, s.secretTemplate);
      else m.C_GenerateKeyPair(session, s.mechanism, s.publicTemplate!, s.privateTemplate!);
    } finally {
      m.C_CloseSession(session);
    }
  }

  get display(): string {
    return this.uri.display;
  }

  /**
   * Opens a session and finds the key. A module whose device went away can stay broken after the device
   * returns (SoftHSM2 answers CKR_GENERAL_ERROR until re-initialized): then the module is finalized and
   * initialized again, at most every few seconds, and every key on it reconnects on its next call.
   */
  private connect(): void {
    try {
      this.connectOnce();
    } catch (err) {
      if (
        !/CKR_GENERAL_ERROR|CKR_DEVICE|CKR_CRYPTOKI_NOT_INITIALIZED/.test((err as Error).message) ||
        !reinitialize(this.module)
      )
        throw err;
      this.connectOnce();
    }
  }

  private connectOnce(): void {
    const m = this.module;
    const l = this.lib;
    const slot = this.findSlot();
    const session = m.C_OpenSession(slot, l.CKF_SERIAL_SESSION | l.CKF_RW_SESSION);
    try {
      if (this.uri.pin !== undefined) {
        try {
          m.C_Login(session, l.CKU_USER, this.uri.pin);
        } catch (err) {
          // Another session of this process on the same token already logged the token in.
          if (!/CKR_USER_ALREADY_LOGGED_IN/.test((err as Error).message)) throw err;
        }
      }
      const found = this.find(session, this.keyClass, 2);
      if (found.length === 0) throw new KeyUnavailable(`no such key in the HSM: ${this.uri.display}`);
      if (found.length > 1) throw new KeyUnavailable(`more than one key matches ${this.uri.display}: name it by id=`);
      this.session = session;
      this.key = found[0];
    } catch (err) {
      try {
        m.C_CloseSession(session);
      } catch {
        // The session is unusable anyway.
      }
      throw err instanceof KeyUnavailable
        ? err
        : new KeyUnavailable(`HSM ${this.uri.display}: ${(err as Error).message}`);
    }
  }

  private findSlot(): Handle {
    const m = this.module;
    let slots: Handle[];
    try {
      slots = m.C_GetSlotList(true);
    } catch (err) {
      throw new KeyUnavailable(`HSM ${this.uri.display}: ${(err as Error).message}`);
    }
    for (const slot of slots) {
      let info: Pkcs11Js.TokenInfo;
      try {
        info = m.C_GetTokenInfo(slot);
      } catch (err) {
        throw new KeyUnavailable(`HSM ${this.uri.display}: ${(err as Error).message}`);
      }
      if (this.uri.token !== undefined && info.label.trimEnd() !== this.uri.token) continue;
      if (this.uri.serial !== undefined && info.serialNumber.trimEnd() !== this.uri.serial) continue;
      return slot;
    }
    throw new KeyUnavailable(`no token matches ${this.uri.display}`);
  }

  /** Up to `max` objects of `keyClass` that the URI names (by label and id) on `session`. */
  private find(session: Handle, keyClass: number, max: number): Handle[] {
    const m = this.module;
    const l = this.lib;
    const template: Pkcs11Js.Template = [{ type: l.CKA_CLASS, value: keyClass }];
    if (this.uri.object) template.push({ type: l.CKA_LABEL, value: this.uri.object });
    if (this.uri.id) template.push({ type: l.CKA_ID, value: this.uri.id });
    m.C_FindObjectsInit(session, template);
    const found = m.C_FindObjects(session, max);
    m.C_FindObjectsFinal(session);
    return found;
  }

  /**
   * CKA_EC_POINT of the public key beside this private key: the object of the same label (and id), as
   * HSM tools create key pairs.
   */
  publicPoint(): Buffer {
    return this.run((m, s, _k, l) => {
      const [pub] = this.find(s, l.CKO_PUBLIC_KEY, 1);
      if (!pub) throw new KeyUnavailable(`no public key beside ${this.display}`);
      return m.C_GetAttributeValue(s, pub, [{ type: l.CKA_EC_POINT }])[0]!.value as Buffer;
    });
  }

  /** Signs `data` with this private key by `mechanism`; a failure is KeyUnavailable naming the key. */
  sign(mechanism: number, data: Buffer): Buffer {
    try {
      return this.run((m, s, k) => {
        m.C_SignInit(s, { mechanism }, k);
        return Buffer.from(m.C_Sign(s, data, Buffer.alloc(512)));
      });
    } catch (err) {
      if (err instanceof KeyUnavailable) throw err;
      throw new KeyUnavailable(`the HSM key ${this.display} cannot sign: ${(err as Error).message}`);
    }
  }

  /**
   * Runs `work` on the session, on a fresh session once more if the device or session went away (or the
   * module says only CKR_GENERAL_ERROR, as SoftHSM2 does when its token store vanished): an HSM that
   * comes back is used again without a restart.
   */
  run<T>(work: (m: Pkcs11Js.PKCS11, session: Handle, key: Handle, l: typeof Pkcs11Js) => T): T {
    for (let attempt = 0; ; attempt++) {
      if (!this.session || !this.key) this.connect();
      try {
        return work(this.module, this.session!, this.key!, this.lib);
      } catch (err) {
        if (!isGone(err) || attempt > 0) throw err;
        this.close();
        this.key = undefined;
      }
    }
  }

  close(): void {
    if (!this.session) return;
    try {
      this.module.C_CloseSession(this.session);
    } catch {
      // Closing a session the device already dropped.
    }
    this.session = undefined;
  }
}

/** Errors that mean the session or device is gone, not that the input was wrong. */
function isGone(err: unknown): boolean {
  return /CKR_(GENERAL_ERROR|SESSION_HANDLE_INVALID|SESSION_CLOSED|DEVICE_REMOVED|DEVICE_ERROR|TOKEN_NOT_PRESENT|USER_NOT_LOGGED_IN|OBJECT_HANDLE_INVALID|KEY_HANDLE_INVALID|CRYPTOKI_NOT_INITIALIZED)/.test(
    (err as Error).message,
  );
}

function loadPkcs11js(): typeof Pkcs11Js {
  try {
    // Loaded only when a pkcs11: key is configured: the embedded default needs no native HSM binding.
    return require('pkcs11js') as typeof Pkcs11Js;
  } catch (err) {
    throw new KeyUnavailable(`the PKCS#11 binding (pkcs11js) did not load: ${(err as Error).message}`);
  }
}

/** A module is initialized once per process; every key on it shares that. */
const modules = new Map<string, Pkcs11Js.PKCS11>();
const reinitializedAt = new Map<Pkcs11Js.PKCS11, number>();

/** Finalizes and initializes a module again; false when that was tried within the last 5 s. */
function reinitialize(m: Pkcs11Js.PKCS11): boolean {
  const last = reinitializedAt.get(m) ?? 0;
  if (Date.now() - last < 5000) return false;
  reinitializedAt.set(m, Date.now());
  try {
    m.C_Finalize();
  } catch {
    // Already finalized, or the device is gone: initializing again is what matters.
  }
  try {
    m.C_Initialize();
    return true;
  } catch {
    return false;
  }
}

function moduleFor(lib: typeof Pkcs11Js, path: string): Pkcs11Js.PKCS11 {
  let m = modules.get(path);
  if (m) return m;
  m = new lib.PKCS11();
  try {
    m.load(path);
    m.C_Initialize();
  } catch (err) {
    if (!/CKR_CRYPTOKI_ALREADY_INITIALIZED/.test((err as Error).message))
      throw new KeyUnavailable(`cannot load the PKCS#11 module ${path}: ${(err as Error).message}`);
  }
  modules.set(path, m);
  return m;
}
