/**
 * infra/grafana/stagedoor.json: a Grafana dashboard JSON model (importable as is) whose every query parses as
 * PromQL (Prometheus' own grammar, `@prometheus-io/lezer-promql`) and names only metrics that the two apps'
 * registries actually export; and every stagedoor_* metric of the contract has a panel.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { buildApp as buildGateway } from '@stagedoor/gateway';
import { loadGatewayConfig } from '@stagedoor/gateway/config';
import { buildApp as buildMedia } from '@stagedoor/media';
import { loadMediaConfig } from '@stagedoor/media/config';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { read } from './support/repo.js';

interface Target {
  refId?: string;
  expr?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id?: number;
  type?: string;
  title?: string;
  gridPos?: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  title?: string;
  uid?: string;
  schemaVersion?: number;
  panels?: Panel[];
  templating?: { list?: { name: string; type: string; query?: unknown; definition?: string }[] };
}

const dashboard = JSON.parse(read('infra/grafana/stagedoor.json')) as Dashboard;
const panels = (dashboard.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]);
const queryPanels = panels.filter((p) => p.type !== 'row');

/** Grafana replaces its variables before Prometheus sees a query; do the same with neutral values. */
function asPromQL(expr: string): string {
  return expr.replace(/\$__rate_interval|\$__interval|\$__range/g, '5m').replace(/\$\{?(\w+)\}?/g, '.*');
}

/** Metric names a PromQL expression selects; throws on a syntax error. */
function metricNames(expr: string): string[] {
  const text = asPromQL(expr);
  const tree = parser.parse(text);
  const names: string[] = [];
  let error: number | undefined;
  tree.iterate({
    enter(node) {
      if (node.type.isError) error = node.from;
      if (node.name === 'VectorSelector') {
        const id = node.node.getChild('Identifier');
        if (id) names.push(text.slice(id.from, id.to));
      }
      if (node.name === 'UnquotedLabelMatcher' && /^__name__\s*=/.test(text.slice(node.from, node.to))) {
        names.push(text.slice(node.from, node.to).replace(/^__name__\s*=\s*"(.*)"$/, '$1'));
      }
    },
  });
  if (error !== undefined) throw new Error(`not PromQL at ${error}: ${text}`);
  return names;
}

/** Every series name the apps expose: counters and gauges as named, histograms as _bucket/_sum/_count. */
async function exportedNames(app: FastifyInstance): Promise<string[]> {
  const registry = (
    app as unknown as {
      metrics: { registry?: { getMetricsAsJSON(): Promise<{ name: string; type: string }[]> } };
    }
  ).metrics.registry;
  if (!registry) throw new Error('metrics are off');
  return (await registry.getMetricsAsJSON()).flatMap(({ name, type }) =>
    String(type) === 'histogram' ? [name, `${name}_bucket`, `${name}_sum`, `${name}_count`] : [name],
  );
}

const apps: FastifyInstance[] = [];
const exported = new Set<string>();
beforeAll(async () => {
  const gatewayConfig = loadGatewayConfig({
    SESSION_SECRETS: 'grafana-test-secret-0123456789abcdef0123456789',
    DATA_DIR: mkdtempSync(join(tmpdir(), 'sd-grafana-')),
    LOG_LEVEL: 'silent',
  });
  gatewayConfig.metrics = { host: '127.0.0.1', port: 0 };
  const mediaConfig = loadMediaConfig({ JWKS_URL: 'http://127.0.0.1:9/jwks.json', LOG_LEVEL: 'silent' });
  mediaConfig.metrics = { host: '127.0.0.1', port: 0 };
  for (const app of [await buildGateway(gatewayConfig), await buildMedia(mediaConfig)]) {
    apps.push(app);
    await app.ready();
    for (const name of await exportedNames(app)) exported.add(name);
  }
});
afterAll(async () => {
  for (const app of apps) await app.close();
});

describe('infra/grafana/stagedoor.json', () => {
  it('is a dashboard JSON model Grafana imports: title, uid, schema version, panels on the 24-column grid', () => {
    expect(dashboard.title).toBe('stagedoor');
    expect(dashboard.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(queryPanels.length).toBeGreaterThanOrEqual(10);
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of panels) {
      expect(typeof panel.id, panel.title).toBe('number');
      expect(['row', 'timeseries', 'stat', 'gauge', 'bargauge', 'table', 'heatmap']).toContain(panel.type);
      expect(panel.title).toBeTruthy();
      const pos = panel.gridPos;
      expect(pos, panel.title).toBeDefined();
      if (!pos) continue;
      for (const v of [pos.x, pos.y, pos.w, pos.h]) expect(Number.isInteger(v) && v >= 0).toBe(true);
      expect(pos.w).toBeGreaterThan(0);
      expect(pos.x + pos.w, panel.title).toBeLessThanOrEqual(24);
    }
    // Panels on one row never overlap.
    for (const a of panels) {
      for (const b of panels) {
        if (a === b || !a.gridPos || !b.gridPos) continue;
        const overlap =
          a.gridPos.x < b.gridPos.x + b.gridPos.w &&
          b.gridPos.x < a.gridPos.x + a.gridPos.w &&
          a.gridPos.y < b.gridPos.y + b.gridPos.h &&
          b.gridPos.y < a.gridPos.y + a.gridPos.h;
        expect(overlap, `${a.title} overlaps ${b.title}`).toBe(false);
      }
    }
    // Every query goes to the Prometheus data source the importer picks.
    const datasource = dashboard.templating?.list?.find((v) => v.name === 'datasource');
    expect(datasource).toMatchObject({ type: 'datasource', query: 'prometheus' });
    for (const panel of queryPanels) {
      expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: `\${datasource}` });
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) {
        expect(target.refId).toMatch(/^[A-Z]$/);
        expect(typeof target.expr).toBe('string');
      }
    }
  });

  it('queries, in PromQL that parses, only metrics the apps export', () => {
    const used = new Set<string>();
    const queries = [
      ...queryPanels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: p.title, expr: t.expr ?? '' }))),
      ...(dashboard.templating?.list ?? [])
        .filter((v) => v.type === 'query')
        .map((v) => ({
          where: `variable ${v.name}`,
          expr: (v.definition ?? '').replace(/^label_values\((\w+),.*\)$/, '$1'),
        })),
    ];
    expect(queries.length).toBeGreaterThan(10);
    for (const { where, expr } of queries) {
      const names = metricNames(expr);
      expect(names.length, `${where}: ${expr}`).toBeGreaterThan(0);
      for (const name of names) {
        expect(exported.has(name), `${where}: ${name} is not exported by either app`).toBe(true);
        used.add(name);
      }
    }
    // Positive control: the registries were read, and the checker does catch an unknown name.
    expect(exported.has('stagedoor_streams_active')).toBe(true);
    expect(metricNames('rate(stagedoor_no_such_metric_total[5m])')).toEqual([
      'stagedoor_no_such_metric_total',
    ]);
    expect(() => metricNames('sum(rate(x[5m])')).toThrow(/not PromQL/);
    // Every metric of the contract's table is on the dashboard.
    const base = (name: string) => name.replace(/_(bucket|sum|count)$/, '');
    const shown = new Set([...used].map(base));
    for (const name of [
      'http_request_duration_seconds',
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_seconds',
      'stagedoor_logins_total',
      'stagedoor_sessions_ended_total',
      'stagedoor_media_tokens_minted_total',
      'stagedoor_token_verifications_total',
      'stagedoor_streams_active',
      'stagedoor_bytes_sent_total',
      'stagedoor_storage_request_duration_seconds',
      'stagedoor_revocation_feed_up',
    ]) {
      expect(shown.has(name), name).toBe(true);
    }
  });
});
