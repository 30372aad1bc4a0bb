/**
 * HLS renditions in the library (CONTRACT.md, Demo fixtures and `GET /media/library`): a rendition is a
 * folder of playlists and segments published under one prefix, and a person plays it as one thing. So
 * the library shows each rendition as ONE item, its master playlist, and hides the variant playlists,
 * init files and segments beneath it (they are still served: a prefix token for the folder covers them).
 *
 * A rendition's folder is the shallowest folder holding a playlist (`.m3u8`), other than a listing root
 * itself (`catalog/`, `users/<id>/`: a playlist placed directly there is listed alone, hiding nothing).
 * Its master is `master.m3u8` in that folder, else the first playlist there by name. The item's size is
 * the whole rendition's (every variant), its title the folder's name.
 */

export interface ListedObject {
  key: string;
  contentType: string;
  size: number;
}

export const HLS_CONTENT_TYPE = 'application/vnd.apple.mpegurl';
const MASTER_NAME = 'master.m3u8';

const isPlaylist = (key: string) => key.toLowerCase().endsWith('.m3u8');
const folderOf = (key: string) => key.slice(0, key.lastIndexOf('/') + 1);

/** The rendition folders among `objects`: folders holding a playlist, with no such folder above them. */
function renditionFolders(objects: readonly ListedObject[], roots: readonly string[]): string[] {
  const candidates = [
    ...new Set(objects.filter((o) => isPlaylist(o.key)).map((o) => folderOf(o.key))),
  ].filter((folder) => folder !== '' && !roots.includes(folder));
  candidates.sort((a, b) => a.length - b.length);
  const chosen: string[] = [];
  for (const folder of candidates) {
    if (!chosen.some((outer) => folder.startsWith(outer))) chosen.push(folder);
  }
  return chosen;
}

function masterOf(folder: string, members: readonly ListedObject[]): string {
  const direct = members
    .filter((o) => isPlaylist(o.key) && folderOf(o.key) === folder)
    .map((o) => o.key)
    .sort();
  return direct.find((key) => key === `${folder}${MASTER_NAME}`) ?? (direct[0] as string);
}

/**
 * Collapses every HLS rendition in a listing into one entry (at the place of its first file), keeping
 * every other object as it is. `roots` are the listing prefixes, never taken for a rendition folder.
 */
export function groupHlsRenditions(
  objects: readonly ListedObject[],
  roots: readonly string[],
): Array<ListedObject & { renditionFolder?: string }> {
  const folders = renditionFolders(objects, roots);
  const folderFor = (key: string) => folders.find((folder) => key.startsWith(folder));
  const out: Array<ListedObject & { renditionFolder?: string }> = [];
  const emitted = new Set<string>();
  for (const object of objects) {
    const folder = folderFor(object.key);
    if (folder === undefined) {
      out.push(object);
      continue;
    }
    if (emitted.has(folder)) continue;
    emitted.add(folder);
    const members = objects.filter((o) => o.key.startsWith(folder));
    out.push({
      key: masterOf(folder, members),
      contentType: HLS_CONTENT_TYPE,
      size: members.reduce((sum, o) => sum + o.size, 0),
      renditionFolder: folder,
    });
  }
  return out;
}
