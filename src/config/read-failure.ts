// Why a file could not be read, in the words config errors use ("no such file or directory"),
// shared by the config file itself (load.ts) and the files it names (listener/tls.ts).

const READ_FAILURES: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'is a directory',
  ENOTDIR: 'a parent of it is not a directory',
};

export function readFailure(err: unknown): string {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
  return READ_FAILURES[code] ?? (err instanceof Error ? err.message : String(err));
}
