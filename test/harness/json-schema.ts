// A validator for the part of JSON Schema (2020-12) the documented report
// schemas use: type, const, enum, required, properties,
// additionalProperties: false, items, oneOf, $ref into $defs, minimum,
// pattern. Returns the problems found, each with its JSON path; an unknown
// keyword is a problem too, so a schema cannot silently outgrow it.
type Schema = Record<string, unknown>;

const KNOWN = new Set(['$schema', 'title', 'description', '$defs', 'type', 'const', 'enum', 'required', 'properties', 'additionalProperties', 'items', 'oneOf', '$ref', 'minimum', 'pattern']);

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

export function validateJsonSchema(root: Schema, value: unknown, start: Schema = root, at = '$'): string[] {
  const problems: string[] = [];
  const walk = (schema: Schema, v: unknown, path: string): void => {
    for (const k of Object.keys(schema)) if (!KNOWN.has(k)) problems.push(`${path}: schema keyword ${k} is not supported`);
    if (typeof schema.$ref === 'string') {
      const name = /^#\/\$defs\/(.+)$/.exec(schema.$ref)?.[1];
      const target = name ? (root.$defs as Record<string, Schema> | undefined)?.[name] : undefined;
      if (!target) problems.push(`${path}: unresolved $ref ${schema.$ref}`);
      else walk(target, v, path);
    }
    if (schema.type !== undefined) {
      const t = typeOf(v);
      const ok = schema.type === t || (schema.type === 'number' && t === 'integer');
      if (!ok) return void problems.push(`${path}: expected ${String(schema.type)}, got ${t}`);
    }
    if ('const' in schema && v !== schema.const) problems.push(`${path}: expected ${JSON.stringify(schema.const)}, got ${JSON.stringify(v)}`);
    if (Array.isArray(schema.enum) && !schema.enum.includes(v)) problems.push(`${path}: ${JSON.stringify(v)} is not one of ${JSON.stringify(schema.enum)}`);
    if (typeof schema.minimum === 'number' && typeof v === 'number' && v < schema.minimum) problems.push(`${path}: ${v} < ${schema.minimum}`);
    if (typeof schema.pattern === 'string' && typeof v === 'string' && !new RegExp(schema.pattern, 'u').test(v)) problems.push(`${path}: ${JSON.stringify(v)} does not match ${schema.pattern}`);
    if (typeOf(v) === 'object') {
      const obj = v as Record<string, unknown>;
      for (const r of (schema.required as string[] | undefined) ?? []) if (!(r in obj)) problems.push(`${path}: missing ${r}`);
      const props = (schema.properties as Record<string, Schema> | undefined) ?? {};
      for (const [k, sub] of Object.entries(obj)) {
        if (props[k]) walk(props[k], sub, `${path}.${k}`);
        else if (schema.additionalProperties === false) problems.push(`${path}: unexpected property ${k}`);
      }
    }
    if (Array.isArray(v) && schema.items) v.forEach((item, i) => walk(schema.items as Schema, item, `${path}[${i}]`));
    if (Array.isArray(schema.oneOf)) {
      const matching = (schema.oneOf as Schema[]).filter((s) => validateJsonSchema(root, v, s, path).length === 0);
      if (matching.length !== 1) problems.push(`${path}: matches ${matching.length} of the oneOf alternatives, not exactly one`);
    }
  };
  walk(start, value, at);
  return problems;
}
