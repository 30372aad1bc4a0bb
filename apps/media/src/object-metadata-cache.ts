/**
 * Size and ETag of recently served objects, so a suffix range (`bytes=-N`) can be turned into the absolute
 * range storage needs without a HEAD each time. An entry is only a guess: the caller checks that the ETag
 * storage answers with is the one the size came from, and otherwise forgets it and asks again.
 */
export interface ObjectMetadata {
  etag: string;
  size: number;
}

export class ObjectMetadataCache {
  readonly #entries = new Map<string, ObjectMetadata>();
  constructor(readonly maxEntries: number) {}

  get(key: string): ObjectMetadata | undefined {
    const entry = this.#entries.get(key);
    if (entry) {
      // Least recently used goes first: re-inserting moves the key to the end of the Map's order.
      this.#entries.delete(key);
      this.#entries.set(key, entry);
    }
    return entry;
  }

  set(key: string, entry: ObjectMetadata): void {
    if (this.maxEntries === 0) return;
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    while (this.#entries.size > this.maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  get size(): number {
    return this.#entries.size;
  }
}
