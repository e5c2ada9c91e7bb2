import { setFlagsFromString } from 'node:v8';

// Cedar's 4 MB WebAssembly module, optimised by V8's TurboFan in background threads, leaves about 80 MB
// in their malloc arenas that is never given back (an idle `cairn serve` at 189 MB of RSS instead of
// 110). The baseline compiler alone costs an uncached decision about 15 µs more (35 against 50 µs),
// and decisions are cached for a second (docs/performance.md, "Memory"). The flag must be set before
// the module is compiled, which happens when it is first loaded, just below; Cedar is the only
// WebAssembly the registry runs.
setFlagsFromString('--liftoff-only');

export const cedar = require('@cedar-policy/cedar-wasm/nodejs') as typeof import('@cedar-policy/cedar-wasm/nodejs');
