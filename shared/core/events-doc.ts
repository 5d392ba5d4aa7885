/**
 * The event taxonomy as documentation, derived from the zod schemas that validate events, so
 * the documents cannot say something the code does not enforce:
 *  - one JSON Schema (2020-12) holding the envelope and, per type, the envelope narrowed to
 *    that type's source, component and `data`;
 *  - the Markdown table of `docs/events.md` (type, source, component, when, data fields).
 * Pure: `scripts/gen-docs.ts` writes the files, a test checks the committed ones are current.
 */
import { z } from 'zod';
import { EVENT_TYPES, type EventType, envelopeSchema, subjectOf } from './events.ts';

export const EVENTS_SCHEMA_ID = 'https://syntropism.dev/schemas/events.schema.json';
export const GENERATED_START = '<!-- generated:events:start -->';
export const GENERATED_END = '<!-- generated:events:end -->';

/** A JSON Schema node, as far as this module reads it. */
interface JsonSchema {
  type?: string | string[];
  format?: string;
  const?: unknown;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  propertyNames?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  [keyword: string]: unknown;
}

const TYPES = Object.keys(EVENT_TYPES) as EventType[];

/**
 * JSON Schema of a zod schema, without its `$schema` (it is nested in one document). Events
 * are documented as written and delivered, after defaults: the `output` side.
 */
function jsonSchemaOf(schema: z.ZodType): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io: 'output' }) as JsonSchema;
  return rest;
}

/** The JSON Schema of `data` of one event type. */
export function eventDataJsonSchema(type: EventType): JsonSchema {
  return jsonSchemaOf(EVENT_TYPES[type].data);
}

/**
 * One JSON Schema for every event: `$defs.envelope` is the envelope, `$defs.<type>` the
 * envelope of that type (fixed source and component, its `data`), and the root accepts exactly
 * one of the types.
 */
export function eventsJsonSchema(): Record<string, unknown> {
  const defs: Record<string, unknown> = { envelope: { title: 'Event envelope', ...jsonSchemaOf(envelopeSchema) } };
  for (const type of TYPES) {
    const spec = EVENT_TYPES[type];
    defs[type] = {
      title: type,
      description: spec.when,
      'x-subject': subjectOf({ type, source: spec.source, component: spec.component }),
      allOf: [{ $ref: '#/$defs/envelope' }],
      properties: {
        type: { const: type },
        source: { const: spec.source },
        component: { const: spec.component },
        data: eventDataJsonSchema(type),
      },
    };
  }
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: EVENTS_SCHEMA_ID,
    title: 'Syntropism event',
    description:
      'An event as written to the outbox and published on NATS. Generated from shared/core/events.ts by scripts/gen-docs.ts; do not edit.',
    oneOf: TYPES.map((type) => ({ $ref: `#/$defs/${type}` })),
    $defs: defs,
  };
}

// ---------------------------------------------------------------------------------------------
// Markdown

const code = (v: unknown) => `\`${typeof v === 'string' ? v : JSON.stringify(v)}\``;

/** zod bounds integers by the safe-integer range; that says nothing to a reader. */
const meaningful = (n: number | undefined) =>
  n !== undefined && Math.abs(n) !== Number.MAX_SAFE_INTEGER ? n : undefined;

function range(node: JsonSchema): string {
  const min = meaningful(node.minimum);
  const max = meaningful(node.maximum);
  const exMin = meaningful(node.exclusiveMinimum);
  const exMax = meaningful(node.exclusiveMaximum);
  if (min !== undefined && max !== undefined) return ` ${min}–${max}`;
  const parts: string[] = [];
  if (min !== undefined) parts.push(`≥ ${min}`);
  if (exMin !== undefined) parts.push(`> ${exMin}`);
  if (max !== undefined) parts.push(`≤ ${max}`);
  if (exMax !== undefined) parts.push(`< ${exMax}`);
  return parts.length ? ` ${parts.join(', ')}` : '';
}

function fieldList(node: JsonSchema): string[] {
  const required = new Set(node.required ?? []);
  return Object.entries(node.properties ?? {}).map(
    ([name, child]) => `${code(name)}${required.has(name) ? '' : '?'}: ${describeType(child)}`,
  );
}

/** A short human description of a JSON Schema node: `integer ≥ 0`, `one of a, b`, `array of string`… */
export function describeType(node: JsonSchema): string {
  if (node.const !== undefined) return code(node.const);
  if (node.enum) return `one of ${node.enum.map(code).join(', ')}`;
  if (node.anyOf) return node.anyOf.map(describeType).join(' or ');
  if (Array.isArray(node.type)) return node.type.map((type) => describeType({ ...node, type })).join(' or ');
  switch (node.type) {
    case 'string':
      return node.format ? `string (${node.format})` : 'string';
    case 'number':
    case 'integer':
      return `${node.type}${range(node)}`;
    case 'boolean':
    case 'null':
      return node.type;
    case 'array':
      return node.items ? `array of ${describeType(node.items)}` : 'array';
    case 'object': {
      if (node.properties) return `object {${fieldList(node).join(', ')}}`;
      const values =
        typeof node.additionalProperties === 'object' ? describeType(node.additionalProperties) : 'any JSON';
      const keys = node.propertyNames?.enum;
      return keys ? `map {${keys.map(code).join(', ')}} → ${values}` : `map of string → ${values}`;
    }
    default:
      return 'any JSON';
  }
}

/**
 * The data fields of one type, from its schema: name, type, whether it is required, and the
 * description given with `.meta({ description })` or `.describe()`, if any.
 */
export function eventDataFields(
  type: EventType,
): { name: string; type: string; required: boolean; description?: string }[] {
  const schema = eventDataJsonSchema(type);
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties ?? {}).map(([name, node]) => ({
    name,
    type: describeType(node),
    required: required.has(name),
    ...(typeof node.description === 'string' && { description: node.description }),
  }));
}

/** Table cells must not contain a raw pipe or a line break. */
const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

const width = (text: string) => [...text].length;

/** A Markdown table with padded columns (the layout the repository's formatter gives tables). */
export function markdownTable(header: string[], rows: string[][]): string {
  const all = [header, ...rows].map((r) => r.map(cell));
  const widths = header.map((_, i) => Math.max(3, ...all.map((r) => width(r[i] ?? ''))));
  const line = (r: string[]) =>
    `| ${widths.map((w, i) => (r[i] ?? '').padEnd(w + (r[i] ?? '').length - width(r[i] ?? ''))).join(' | ')} |`;
  const [head = [], ...body] = all;
  return [line(head), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...body.map(line)].join('\n');
}

/** The taxonomy table of docs/events.md. */
export function eventsMarkdownTable(): string {
  const rows = TYPES.map((type) => {
    const spec = EVENT_TYPES[type];
    const fields = eventDataFields(type)
      .map(
        (f) =>
          `${code(f.name)} ${f.type} (${f.required ? 'required' : 'optional'})${f.description ? `: ${f.description}` : ''}`,
      )
      .join('<br>');
    return [code(type), spec.source, spec.component, spec.when, fields];
  });
  return `${markdownTable(['Type', 'Source', 'Component', 'When emitted', 'Data fields'], rows)}\n`;
}

/** The text between the markers of a document, or undefined when they are missing. */
export function generatedSection(doc: string): string | undefined {
  const start = doc.indexOf(GENERATED_START);
  const end = doc.indexOf(GENERATED_END);
  if (start < 0 || end < start) return undefined;
  return doc.slice(start + GENERATED_START.length, end).replace(/^\n/, '');
}

/** Replaces the text between the markers, keeping the prose around them. */
export function withGeneratedSection(doc: string, generated: string): string {
  const start = doc.indexOf(GENERATED_START);
  const end = doc.indexOf(GENERATED_END);
  if (start < 0 || end < start) throw new Error(`the document has no ${GENERATED_START} … ${GENERATED_END} markers`);
  return `${doc.slice(0, start + GENERATED_START.length)}\n${generated}${doc.slice(end)}`;
}
