// `commy status`: one snapshot of a node's region, from this separate process.
import { ExitCode } from '../exit.js';
import { openView, type RegionFlags } from '../options.js';
import { renderSnapshot, useColour } from '../render.js';

export function statusCommand(o: RegionFlags & { json?: boolean }): number {
  const view = openView(o);
  try {
    const s = view.snapshot();
    if (o.json) process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    else process.stdout.write(`${renderSnapshot(s, useColour(process.stdout))}\n`);
    if (!s.writer.alive) {
      process.stderr.write(
        `commy: the writer of ${s.cluster}/${s.serverId} (pid ${s.writer.pid}) is not alive; this is its last known state\n`,
      );
      return ExitCode.WriterDead;
    }
    return ExitCode.Ok;
  } finally {
    view.close();
  }
}
