import { beforeAll, describe, expect, it } from 'vitest';
import { useMedia } from './support.js';

const h = useMedia();
let lister = '';

interface Page {
  items: { key: string; size: number; contentType: string; etag: string; lastModified: string }[];
  nextCursor: string | null;
}

beforeAll(async () => {
  lister = await h.serviceToken('media:list');
  for (const name of ['a.wav', 'b.mp3', 'c.ogg', 'd.bin', 'e.wav'])
    await h.putObject(`catalog/${name}`, name);
  await h.putObject('users/u1/private.wav', 'secret');
});

async function list(query: string) {
  return h.app.inject({ url: `/v1/catalog${query}`, headers: { authorization: `Bearer ${lister}` } });
}

describe('GET /v1/catalog', () => {
  it('lists one prefix page by page with a cursor', async () => {
    const seen: Page['items'] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await list(
        `?prefix=catalog/&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(res.statusCode).toBe(200);
      const page = res.json() as Page;
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items);
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(seen.map((i) => i.key)).toEqual(
      ['a.wav', 'b.mp3', 'c.ogg', 'd.bin', 'e.wav'].map((n) => `catalog/${n}`),
    );
    const first = seen[0];
    expect(first).toMatchObject({ key: 'catalog/a.wav', size: 5, contentType: 'audio/wav' });
    expect(first?.etag).toMatch(/^"[^"]+"$/);
    expect(new Date(first?.lastModified ?? '').toISOString()).toBe(first?.lastModified);
    expect(seen.map((i) => i.contentType)).toEqual([
      'audio/wav',
      'audio/mpeg',
      'audio/ogg',
      'application/octet-stream',
      'audio/wav',
    ]);
  });

  it('lists everything without a prefix, and ends with nextCursor null', async () => {
    const page = (await list('')).json() as Page;
    expect(page.items.map((i) => i.key)).toContain('users/u1/private.wav');
    expect(page.items).toHaveLength(6);
    expect(page.nextCursor).toBeNull();
  });

  it('refuses a prefix that breaks the key rules', async () => {
    for (const prefix of ['catalog', '../', 'catalog/../', '/catalog/', 'a\\b/']) {
      const res = await list(`?prefix=${encodeURIComponent(prefix)}`);
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toBe('invalid_key');
    }
  });

  it('refuses a cursor made for another prefix, or made up', async () => {
    const page = (await list('?prefix=catalog/&limit=1')).json() as Page;
    expect(page.nextCursor).not.toBeNull();
    const other = await list(`?prefix=users/&cursor=${encodeURIComponent(page.nextCursor ?? '')}`);
    expect(other.statusCode).toBe(400);
    expect(other.json().error).toBe('invalid_request');
    expect((await list('?prefix=catalog/&cursor=garbage')).statusCode).toBe(400);
  });

  it('needs a service token with media:list', async () => {
    expect((await h.app.inject({ url: '/v1/catalog' })).statusCode).toBe(401);
    const reader = await h.serviceToken('media:read');
    const res = await h.app.inject({ url: '/v1/catalog', headers: { authorization: `Bearer ${reader}` } });
    expect(res.statusCode).toBe(403);
  });
});
