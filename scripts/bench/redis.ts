// Starts a throwaway redis-server on 127.0.0.1 (a free port, no persistence)
// when one is installed; the benchmarks that compare against Redis skip that
// case, and say so, when it is not.
import { execFileSync } from 'node:child_process';
import { freePort, log, spawnTracked, stopProcess, waitFor, which } from './common.js';
import { Resp } from './resp.js';

export interface RedisHandle {
  port: number;
  version: string;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<RedisHandle | null> {
  const bin = which('redis-server');
  if (!bin) {
    log('redis-server is not installed: the Redis case is skipped (apt-get install redis-server to include it)');
    return null;
  }
  let version = 'unknown';
  try {
    version = /v=([\d.]+)/.exec(execFileSync(bin, ['--version'], { encoding: 'utf8' }))?.[1] ?? version;
  } catch {
    // keep "unknown"
  }
  const port = await freePort();
  const proc = spawnTracked(bin, [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--protected-mode',
    'yes',
    '--daemonize',
    'no',
    '--loglevel',
    'warning',
  ]);
  await waitFor(
    async () => {
      const c = await Resp.connect(port);
      try {
        return (await c.command('PING')) === 'PONG';
      } finally {
        c.close();
      }
    },
    10_000,
    `redis-server on port ${port}`,
  );
  return { port, version, stop: () => stopProcess(proc) };
}
