/**
 * Reading a Prometheus `/metrics` answer in tests with a real text-format parser
 * (`parse-prometheus-text-format`), so the exposition is checked as Prometheus would read it.
 *
 * That parser folds a histogram's series into one when they carry labels other than `le` (it keeps one
 * `buckets` map and drops the `_count`/`_sum` lines), so the text is parsed twice: as is (every line must
 * parse, types included), and once more with histogram families declared untyped, which keeps each
 * `<name>_count` series with its own labels.
 */
import parsePrometheusTextFormat from 'parse-prometheus-text-format';

export type Labels = Record<string, string>;

export interface Exposition {
  /** Every family's name and type. */
  families: Map<string, string>;
  /** A counter's or gauge's value for exactly these labels (0 when the series is absent). */
  value(name: string, labels?: Labels): number;
  /** A histogram's observation count for exactly these labels (0 when absent). */
  count(name: string, labels?: Labels): number;
  /** Every label set of a family. */
  labelSets(name: string): Labels[];
}

function sameLabels(a: Labels | undefined, b: Labels): boolean {
  const left = a ?? {};
  const keys = Object.keys(left);
  return keys.length === Object.keys(b).length && keys.every((k) => left[k] === b[k]);
}

export function parseExposition(text: string): Exposition {
  const parsed = parsePrometheusTextFormat(text);
  const parsedNames = new Set(parsed.map((family) => family.name));
  const untyped = parsePrometheusTextFormat(text.replace(/^(# TYPE \S+) histogram$/gm, '$1 untyped'));
  // A family's series may come in several runs once histograms are untyped (`x_bucket`, `x_sum`, `x_count`
  // of one label set, then of the next): gather each name's samples.
  const byName = new Map<string, { labels?: Labels; value?: string }[]>();
  for (const family of [...untyped.filter((f) => !parsedNames.has(f.name)), ...parsed]) {
    byName.set(family.name, [...(byName.get(family.name) ?? []), ...family.metrics]);
  }
  const find = (name: string, labels: Labels) =>
    byName.get(name)?.find((sample) => sameLabels(sample.labels, labels));
  return {
    families: new Map(parsed.map((family) => [family.name, family.type])),
    value: (name, labels = {}) => Number(find(name, labels)?.value ?? 0),
    count: (name, labels = {}) => Number(find(`${name}_count`, labels)?.value ?? 0),
    labelSets: (name) => (byName.get(name) ?? []).map((sample) => sample.labels ?? {}),
  };
}

/** GET `/metrics` from a listener on loopback; throws unless it answers 200 in the text format. */
export async function scrape(port: number, host = '127.0.0.1'): Promise<Exposition> {
  const response = await fetch(`http://${host}:${port}/metrics`);
  if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}`);
  const type = response.headers.get('content-type') ?? '';
  if (!type.startsWith('text/plain')) throw new Error(`GET /metrics answered ${type}`);
  return parseExposition(await response.text());
}
