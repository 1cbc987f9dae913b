// Watches a set of files and calls back once per burst of changes. The
// directories are watched, not the files: renewal tools replace files by
// rename (certbot, acme-client, `mv`), which a watch on the old inode would
// never report, and editors write in several steps, hence the debounce.
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';

export interface FileWatch {
  close(): void;
}

export function watchFiles(paths: readonly string[], onChange: (changed: string[]) => void, opts: { debounceMs: number; logger: Logger }): FileWatch {
  const byDir = new Map<string, Set<string>>();
  for (const p of paths) {
    const dir = dirname(p);
    if (!byDir.has(dir)) byDir.set(dir, new Set());
    byDir.get(dir)!.add(basename(p));
  }
  const changed = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  const fire = () => {
    timer = undefined;
    const list = [...changed];
    changed.clear();
    onChange(list);
  };
  const watchers: FSWatcher[] = [];
  for (const [dir, names] of byDir) {
    try {
      const w = watch(dir, { persistent: false }, (_event, name) => {
        // Some platforms omit the name; then any change in the directory counts.
        if (name !== null && !names.has(name.toString())) return;
        changed.add(name === null ? dir : `${dir}/${name.toString()}`);
        if (timer) clearTimeout(timer);
        timer = setTimeout(fire, opts.debounceMs);
        timer.unref();
      });
      w.on('error', (err) => opts.logger.error({ err, dir }, `cannot watch ${dir} for certificate changes; SIGHUP still reloads`));
      watchers.push(w);
    } catch (err) {
      opts.logger.error({ err, dir }, `cannot watch ${dir} for certificate changes; SIGHUP still reloads`);
    }
  }
  return {
    close() {
      if (timer) clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
