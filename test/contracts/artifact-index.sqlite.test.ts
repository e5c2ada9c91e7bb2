import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createCatalog } from '../../src/catalog';
import { artifactIndexContract } from './artifact-index.contract';

artifactIndexContract('sqlite', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-ai-'));
  return {
    catalog: createCatalog(`sqlite://${path.join(dir, 'cairn.db')}`),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
