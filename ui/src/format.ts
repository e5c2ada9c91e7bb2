export function bytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export function when(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
}

export const shortDigest = (d: string) => d.replace(/^sha256:/, '').slice(0, 12);

/** `#/a/<repository>@<reference>`: an artifact page's address; the repository may hold slashes. */
export const artifactHref = (repository: string, reference: string) =>
  `#/a/${encodeURIComponent(repository)}/${encodeURIComponent(reference)}`;
