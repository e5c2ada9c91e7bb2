import { MemorySessionStore } from '../../src/sessions/memory-session-store';
import { sessionStoreContract } from './upload-session-store.contract';

// Memory sessions are per process by design, so the "shared" case does not apply.
sessionStoreContract('memory', false, async () => ({
  open: (idleMs) => new MemorySessionStore(idleMs),
  cleanup: async () => {},
}));
