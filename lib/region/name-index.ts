// Where the OS cannot list named regions (Windows named mappings, macOS POSIX
// shm), writers record themselves in a per-user folder so `commy ls` can find
// them. Entries are hints only: ls opens each one and drops the stale ones.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface IndexEntry {
  name: string;
  cluster: string;
  serverId: string;
  global: boolean;
  pid: number;
}

export function indexDir(): string {
  return process.env.COMMY_INDEX_DIR ?? join(tmpdir(), 'commy-regions');
}

function fileFor(name: string): string {
  return join(indexDir(), `${name.replace(/[^A-Za-z0-9-]/g, '_')}.json`);
}

export function addIndexEntry(e: IndexEntry): void {
  try {
    mkdirSync(indexDir(), { recursive: true, mode: 0o700 });
    writeFileSync(fileFor(e.name), JSON.stringify(e), { mode: 0o600 });
  } catch {
    // The index only helps `commy ls`; never fail a writer over it.
  }
}

export function removeIndexEntry(name: string): void {
  rmSync(fileFor(name), { force: true });
}

export function readIndex(): IndexEntry[] {
  let files: string[];
  try {
    files = readdirSync(indexDir());
  } catch {
    return [];
  }
  const out: IndexEntry[] = [];
  for (const f of files) {
    if (!f.endsWith('.json')) continue;
    try {
      const e = JSON.parse(readFileSync(join(indexDir(), f), 'utf8')) as IndexEntry;
      if (typeof e.cluster === 'string' && typeof e.serverId === 'string' && typeof e.name === 'string') out.push(e);
    } catch {
      // a torn or foreign file: skip it
    }
  }
  return out;
}
