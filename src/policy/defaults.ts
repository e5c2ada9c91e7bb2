import { cpSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';

/** The built-in policies shipped with Cairn (the package's policies/ directory). */
export const BUILTIN_POLICY_DIR = path.join(__dirname, '..', '..', 'policies');

/**
 * On first start the policy directory is created with the built-in roles and rules, which operators
 * then own and edit. An existing directory is never touched, even when empty (that denies everything).
 */
export function ensurePolicyDir(dir: string): boolean {
  if (existsSync(dir)) return false;
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(BUILTIN_POLICY_DIR).filter((x) => x.endsWith('.cedar') || x === 'governance.yaml')) {
    cpSync(path.join(BUILTIN_POLICY_DIR, f), path.join(dir, f));
  }
  return true;
}
