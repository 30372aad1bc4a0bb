/**
 * Compose variable interpolation, as the Compose Specification defines it (and `docker compose` does it):
 * `$$` is a literal `$`; `$VAR` and `${VAR}`; `${VAR:-default}` / `${VAR-default}` (default when unset or
 * empty / unset); `${VAR:?message}` / `${VAR?message}` (refuse when unset or empty / unset);
 * `${VAR:+alt}` / `${VAR+alt}`; defaults, messages and alternatives may nest further `${…}`.
 * Interpolation applies to every string value of the file (not to keys), before files are merged.
 */
export type Env = Readonly<Record<string, string | undefined>>;

export interface Interpolation {
  /** `${VAR:?…}` / `${VAR?…}` whose variable was missing: compose refuses to start with these. */
  errors: string[];
  /** `$VAR` / `${VAR}` used without a default while unset: compose warns and substitutes "". */
  unset: string[];
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/** Index of the `}` closing the `${` whose body starts at `start`, honouring nested `${…}`. */
function closingBrace(text: string, start: number): number {
  let depth = 1;
  for (let i = start; i < text.length; i++) {
    if (text[i] === '$' && text[i + 1] === '{') {
      depth++;
      i++;
    } else if (text[i] === '}') {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}

export function interpolateString(text: string, env: Env, out: Interpolation, where: string): string {
  let result = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch !== '$') {
      result += ch;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      result += '$';
      i++;
      continue;
    }
    if (next === '{') {
      const end = closingBrace(text, i + 2);
      if (end < 0) {
        out.errors.push(`${where}: unterminated \${ in "${text}"`);
        return result;
      }
      result += expand(text.slice(i + 2, end), env, out, where);
      i = end;
      continue;
    }
    const name = NAME.exec(text.slice(i + 1))?.[0];
    if (name) {
      const value = env[name];
      if (value === undefined) out.unset.push(name);
      result += value ?? '';
      i += name.length;
      continue;
    }
    result += '$';
  }
  return result;
}

function expand(body: string, env: Env, out: Interpolation, where: string): string {
  const name = NAME.exec(body)?.[0];
  if (!name) {
    out.errors.push(`${where}: invalid interpolation "\${${body}}"`);
    return '';
  }
  const rest = body.slice(name.length);
  const value = env[name];
  const setNonEmpty = value !== undefined && value !== '';
  const word = (skip: number) => interpolateString(rest.slice(skip), env, out, where);
  if (rest === '') {
    if (value === undefined) out.unset.push(name);
    return value ?? '';
  }
  if (rest.startsWith(':-')) return setNonEmpty ? value : word(2);
  if (rest.startsWith(':?')) {
    if (setNonEmpty) return value;
    out.errors.push(`${where}: required variable ${name} is missing a value: ${word(2)}`);
    return '';
  }
  if (rest.startsWith(':+')) return setNonEmpty ? word(2) : '';
  if (rest.startsWith('-')) return value !== undefined ? value : word(1);
  if (rest.startsWith('?')) {
    if (value !== undefined) return value;
    out.errors.push(`${where}: required variable ${name} is missing a value: ${word(1)}`);
    return '';
  }
  if (rest.startsWith('+')) return value !== undefined ? word(1) : '';
  out.errors.push(`${where}: invalid interpolation "\${${body}}"`);
  return '';
}

/** Interpolates every string value (recursively; keys are left alone). */
export function interpolateValue(value: unknown, env: Env, out: Interpolation, where = ''): unknown {
  if (typeof value === 'string') return interpolateString(value, env, out, where);
  if (Array.isArray(value)) return value.map((v, i) => interpolateValue(v, env, out, `${where}[${i}]`));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, interpolateValue(v, env, out, where ? `${where}.${k}` : k)]),
    );
  }
  return value;
}

/** Every string value of a parsed document, recursively (keys excluded, as interpolation sees it). */
export function stringValues(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(stringValues);
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(stringValues);
  return [];
}

/** Variables a parsed compose document refers to, each with how (`:?` required, `:-` defaulted, …). */
export function variableReferences(doc: unknown): Map<string, Set<string>> {
  const refs = new Map<string, Set<string>>();
  for (const text of stringValues(doc)) {
    for (const match of text.replaceAll('$$', '').matchAll(/\$(\{)?([A-Za-z_][A-Za-z0-9_]*)(:?[-?+])?/g)) {
      const name = match[2] as string;
      const how = match[1] ? (match[3] ?? 'plain') : 'plain';
      const set = refs.get(name) ?? new Set<string>();
      set.add(how);
      refs.set(name, set);
    }
  }
  return refs;
}
