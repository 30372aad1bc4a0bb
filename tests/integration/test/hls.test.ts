/**
 * HLS under one prefix token, end to end: the demo rendition (packages/fixtures/media) published with
 * the service API as an operator would (PUT /v1/objects/<key> with a media:write service token), listed
 * by the gateway as one item, and played from `<media>/v1/t/<token>/<prefix>master.m3u8` with no
 * playlist rewriting: every URI in every playlist resolves under the same token, ffmpeg copies the
 * whole rendition through it, and the token reads nothing of another rendition.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readVideoFile, readVideoManifest } from '@stagedoor/fixtures/demo-video';
import { DEMO_SERVICE_CLIENT } from '@stagedoor/shared/demo';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keySet, newPrivateJwk } from '../src/keys.js';
import {
  type BrowserSession,
  mintToken,
  type Stack,
  serviceToken,
  signIn,
  startStack,
} from '../src/stack.js';

const run = promisify(execFile);
const manifest = readVideoManifest();
const PREFIX = manifest.hls.prefix;
/** A second rendition (the same files under another name), for the cross-prefix checks. */
const OTHER_PREFIX = 'catalog/hls/second-show/';
const hasFfmpeg =
  spawnSync('ffmpeg', ['-version']).status === 0 && spawnSync('ffprobe', ['-version']).status === 0;

let stack: Stack;
let listener: BrowserSession;

const encodeKey = (key: string) => key.split('/').map(encodeURIComponent).join('/');
const sha256 = (body: Uint8Array) => createHash('sha256').update(body).digest('hex');

/** Mints a prefix token for `prefix` as the signed-in listener; returns the base URL and the token. */
async function prefixBase(prefix: string): Promise<{ url: string; token: string }> {
  const res = await mintToken(stack.gatewayUrl, listener, { prefix });
  expect(res.status).toBe(201);
  return (await res.json()) as { url: string; token: string };
}

/** Every URI a playlist names: its non-tag lines and its tags' URI="…" attributes. */
function playlistUris(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .flatMap((line) => {
      if (line === '') return [];
      if (!line.startsWith('#')) return [line];
      return [...line.matchAll(/URI="([^"]+)"/g)].map((match) => match[1] as string);
    });
}

beforeAll(async () => {
  stack = await startStack({ signingKeys: keySet([newPrivateJwk('k1'), 'active']) });
  // Publishing, as the README shows it with curl: every file of the rendition under one prefix.
  const write = await serviceToken(
    stack.gatewayUrl,
    DEMO_SERVICE_CLIENT.id,
    DEMO_SERVICE_CLIENT.secret,
    'media:write',
  );
  const uploads = manifest.files.flatMap((file) => {
    const copies = [{ key: file.key, file }];
    if (file.key.startsWith(PREFIX)) copies.push({ key: OTHER_PREFIX + file.key.slice(PREFIX.length), file });
    return copies;
  });
  for (const { key, file } of uploads) {
    const res = await fetch(`${stack.mediaUrl}/v1/objects/${encodeKey(key)}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${write}`, 'content-type': file.contentType },
      body: readVideoFile(file.key),
    });
    expect(res.status, key).toBe(201);
  }
  listener = await signIn(stack.gatewayUrl);
}, 120_000);
afterAll(async () => stack?.close());

describe('an HLS rendition published with the service API', () => {
  it('is one library item per rendition (its master, application/vnd.apple.mpegurl); the MP4 is video/mp4', async () => {
    const res = await fetch(`${stack.gatewayUrl}/media/library`, { headers: { cookie: listener.cookie } });
    expect(res.status).toBe(200);
    const { items } = (await res.json()) as {
      items: Array<{ key: string; contentType: string; size: number }>;
    };
    const renditionSize = manifest.files
      .filter((file) => file.key.startsWith(PREFIX))
      .reduce((sum, file) => sum + file.size, 0);
    expect(items).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ key: manifest.mp4.key, contentType: 'video/mp4' }),
        expect.objectContaining({
          key: `${PREFIX}master.m3u8`,
          contentType: 'application/vnd.apple.mpegurl',
          size: renditionSize,
        }),
        expect.objectContaining({ key: `${OTHER_PREFIX}master.m3u8` }),
      ]),
    );
    expect(items.filter((item) => item.key.includes('/hls/'))).toHaveLength(2);
  });

  it('every URI in every playlist resolves (200) under the one token, byte for byte, with its content type', async () => {
    const { url } = await prefixBase(PREFIX);
    const expected = new Map(manifest.files.map((file) => [file.key, file]));
    const types: Record<string, string> = {
      m3u8: 'application/vnd.apple.mpegurl',
      m4s: 'video/iso.segment',
      mp4: 'video/mp4',
    };
    const queue = [new URL(manifest.hls.master, url).href];
    const seen = new Set<string>();
    while (queue.length > 0) {
      const next = queue.shift() as string;
      if (seen.has(next)) continue;
      seen.add(next);
      const res = await fetch(next);
      expect(res.status, next).toBe(200);
      const body = new Uint8Array(await res.arrayBuffer());
      const key = decodeURIComponent(next.slice(url.length - PREFIX.length));
      expect(sha256(body), key).toBe(expected.get(key)?.sha256);
      expect(res.headers.get('content-type'), key).toBe(types[key.slice(key.lastIndexOf('.') + 1)]);
      if (key.endsWith('.m3u8')) {
        for (const uri of playlistUris(Buffer.from(body).toString('utf8')))
          queue.push(new URL(uri, next).href);
      }
    }
    // the master, and through it every variant playlist, init file and segment
    expect(seen.size).toBe(manifest.files.filter((file) => file.key.startsWith(PREFIX)).length);
  });

  it("a token for one rendition's prefix cannot read another rendition's playlists or segments (403)", async () => {
    const mine = await prefixBase(PREFIX);
    const other = await prefixBase(OTHER_PREFIX);
    for (const path of ['master.m3u8', 'v240p/index.m3u8', 'v240p/init_0.mp4', 'v144p/seg-000.m4s']) {
      const crossed = await fetch(`${stack.mediaUrl}/v1/t/${mine.token}/${OTHER_PREFIX}${path}`);
      expect(crossed.status, path).toBe(403);
      expect(((await crossed.json()) as { error: string }).error).toBe('forbidden');
      const back = await fetch(`${stack.mediaUrl}/v1/t/${other.token}/${PREFIX}${path}`);
      expect(back.status, path).toBe(403);
      await back.arrayBuffer();
      // the positive control: each token reads its own rendition
      const own = await fetch(`${mine.url}${path}`);
      expect(own.status, path).toBe(200);
      await own.arrayBuffer();
    }
    // Nor the MP4 next to the renditions, nor by climbing out of the prefix in the path.
    const mp4 = await fetch(`${stack.mediaUrl}/v1/t/${mine.token}/${encodeKey(manifest.mp4.key)}`);
    expect(mp4.status).toBe(403);
    await mp4.arrayBuffer();
    const climbed = await fetch(`${mine.url}..%2Fsecond-show%2Fmaster.m3u8`);
    expect([400, 403]).toContain(climbed.status);
    await climbed.arrayBuffer();
  });

  it.runIf(hasFfmpeg)(
    'ffmpeg -i <prefix URL>/master.m3u8 -c copy gives the whole video (duration within 0.5 s)',
    async () => {
      const { url } = await prefixBase(PREFIX);
      const dir = mkdtempSync(join(tmpdir(), 'sd-hls-'));
      try {
        const out = join(dir, 'out.mp4');
        // Not execFileSync: media answers ffmpeg from this very process.
        await run('ffmpeg', [
          '-hide_banner',
          '-loglevel',
          'error',
          '-i',
          `${url}master.m3u8`,
          '-c',
          'copy',
          out,
        ]);
        const probe = JSON.parse(
          execFileSync('ffprobe', ['-v', 'error', '-show_format', '-show_streams', '-of', 'json', out], {
            encoding: 'utf8',
          }),
        ) as { format: { duration: string }; streams: Array<{ codec_name: string }> };
        expect(Math.abs(Number(probe.format.duration) - manifest.durationSeconds)).toBeLessThan(0.5);
        expect(probe.streams.map((stream) => stream.codec_name).sort()).toEqual(['aac', 'h264']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    60_000,
  );
});
