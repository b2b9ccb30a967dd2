// `commy prune`: removes this account's regions whose writer is dead (killed
// or crashed; a clean stop removes its own). `--dry-run` only lists them.
import { removeDeadRegion } from '../../region/index.js';
import { validateId } from '../../registry/config.js';
import { ExitCode } from '../exit.js';
import { duration, listRegions, writerWord } from './ls.js';

export function pruneCommand(o: { dryRun?: boolean; cluster?: string }): number {
  const cluster = o.cluster === undefined ? undefined : validateId(o.cluster, '--cluster');
  const { regions } = listRegions(); // this account's only: others' are not ours to remove
  let count = 0;
  for (const r of regions) {
    if (r.writer.alive || (cluster !== undefined && r.cluster !== cluster)) continue;
    const what = `${r.cluster}/${r.serverId} (${r.name}, writer pid ${r.writer.pid} ${writerWord(r)} for ${duration(r.writer.goneForMs ?? 0)})`;
    if (o.dryRun) {
      process.stdout.write(`would remove ${what}\n`);
      count++;
      continue;
    }
    const result = removeDeadRegion(r.name);
    if (result === 'alive') process.stdout.write(`kept ${r.cluster}/${r.serverId}: a writer took it over meanwhile\n`);
    else if (result === 'gone') process.stdout.write(`already gone: ${r.cluster}/${r.serverId}\n`);
    else {
      process.stdout.write(`removed ${what}\n`);
      count++;
    }
  }
  if (count === 0) process.stdout.write(`no region of a dead writer${o.dryRun ? '' : ' to remove'}\n`);
  return ExitCode.Ok;
}
