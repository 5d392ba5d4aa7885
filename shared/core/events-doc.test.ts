/**
 * Generated documentation: the generator reads the schemas correctly, and the committed
 * documents equal what it generates now, so docs/ cannot drift from the code.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { openApiDocument } from '../http/openapi.ts';
import { sampleEnvelope, sampleEventData } from './events.fixtures.ts';
import { EVENT_TYPES, type EventType, envelopeSchema, subjectOf } from './events.ts';
import {
  describeType,
  eventDataFields,
  eventDataJsonSchema,
  eventsJsonSchema,
  eventsMarkdownTable,
  GENERATED_END,
  GENERATED_START,
  generatedSection,
  withGeneratedSection,
} from './events-doc.ts';

const TYPES = Object.keys(EVENT_TYPES) as EventType[];
const REGENERATE = 'is out of date: run `npx tsx scripts/gen-docs.ts` and commit the result';
const repoFile = (path: string) => new URL(`../../${path}`, import.meta.url);
const read = (path: string) => {
  const url = repoFile(path);
  if (!existsSync(url)) throw new Error(`${path} is missing: run \`npx tsx scripts/gen-docs.ts\``);
  return readFileSync(url, 'utf8');
};

/** Table rows as trimmed cells: a formatter re-padding the table is not drift, any other change is. */
const normalise = (markdown: string | undefined) =>
  (markdown ?? '')
    .trim()
    .split('\n')
    .map((line) =>
      line.startsWith('|')
        ? line
            .split(/(?<!\\)\|/)
            .map((c) => c.trim().replace(/^-{3,}$/, '---'))
            .join('|')
        : line.trim(),
    );

describe('committed documents are current', () => {
  it('docs/events.md has the generated taxonomy table', () => {
    const doc = read('docs/events.md');
    expect(normalise(generatedSection(doc)), `docs/events.md ${REGENERATE}`).toEqual(normalise(eventsMarkdownTable()));
  });

  it('docs/events.schema.json is the generated JSON Schema', () => {
    expect(JSON.parse(read('docs/events.schema.json')), `docs/events.schema.json ${REGENERATE}`).toEqual(
      eventsJsonSchema(),
    );
  });

  it('docs/openapi.json is the OpenAPI document of the package version', () => {
    const { version } = JSON.parse(read('package.json')) as { version: string };
    expect(JSON.parse(read('docs/openapi.json')), `docs/openapi.json ${REGENERATE}`).toEqual(
      JSON.parse(JSON.stringify(openApiDocument(version))),
    );
  });

  it('docs/events.md explains the envelope, ordering, outbox, subjects and links the pipeline', () => {
    const doc = read('docs/events.md');
    for (const text of ['event_id', 'scenario_id', 'correlation_id', 'causation_id', 'traceparent']) {
      expect(doc).toContain(text);
    }
    for (const aggregate of ['agent:<id>', 'bid:<id>', 'round:<id>', 'market:<resource>'])
      expect(doc).toContain(aggregate);
    expect(doc).toContain('syntropism.<source>.<component>.<type>');
    expect(doc).toMatch(/outbox item/i);
    expect(doc).toContain('(pipeline.md)');
  });
});

describe('eventsJsonSchema', () => {
  const schema = eventsJsonSchema() as {
    $schema: string;
    oneOf: { $ref: string }[];
    $defs: Record<string, { properties: Record<string, unknown>; 'x-subject': string; allOf: unknown[] }>;
  };

  it('is a 2020-12 schema accepting exactly one of the event types', () => {
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.oneOf).toEqual(TYPES.map((t) => ({ $ref: `#/$defs/${t}` })));
    expect(Object.keys(schema.$defs).sort()).toEqual(['envelope', ...TYPES].sort());
  });

  it('holds the envelope schema as zod exports it', () => {
    const { $schema: _, ...envelope } = z.toJSONSchema(envelopeSchema, { io: 'output' });
    expect(schema.$defs.envelope).toMatchObject(envelope);
  });

  it.each(TYPES)('narrows the envelope to %s: source, component, data and subject', (type) => {
    const def = schema.$defs[type];
    expect(def?.allOf).toEqual([{ $ref: '#/$defs/envelope' }]);
    expect(def?.properties).toEqual({
      type: { const: type },
      source: { const: EVENT_TYPES[type].source },
      component: { const: EVENT_TYPES[type].component },
      data: eventDataJsonSchema(type),
    });
    expect(def?.['x-subject']).toBe(subjectOf(sampleEnvelope(type)));
  });

  it.each(TYPES)('describes data of %s consistently with its sample (required present, nothing extra)', (type) => {
    const data = eventDataJsonSchema(type) as { properties: object; required: string[]; additionalProperties: boolean };
    const sample = Object.keys(sampleEventData[type]);
    expect(Object.keys(data.properties)).toEqual(expect.arrayContaining(sample));
    expect(sample).toEqual(expect.arrayContaining(data.required));
    expect(data.additionalProperties).toBe(false);
    expect(data).not.toHaveProperty('$schema');
  });

  it('is plain JSON (survives serialization unchanged) and deterministic', () => {
    expect(JSON.parse(JSON.stringify(eventsJsonSchema()))).toEqual(eventsJsonSchema());
  });
});

describe('eventsMarkdownTable', () => {
  const table = eventsMarkdownTable();
  const rows = table.trim().split('\n');

  const cellsOf = (row: string) => row.split(/(?<!\\)\|/).map((c) => c.trim());

  it('has a header and one row per type, in taxonomy order', () => {
    expect(cellsOf(rows[0] ?? '')).toEqual(['', 'Type', 'Source', 'Component', 'When emitted', 'Data fields', '']);
    expect(rows[1]).toMatch(/^\|( -{3,} \|){5}$/);
    expect(rows.slice(2).map((r) => cellsOf(r)[1])).toEqual(TYPES.map((t) => `\`${t}\``));
  });

  it('pads every row to the same width', () => {
    expect(new Set(rows.map((r) => [...r].length)).size).toBe(1);
  });

  it.each(TYPES)('the %s row has its source, component, when, and every field', (type) => {
    const row = rows.find((r) => cellsOf(r)[1] === `\`${type}\``) ?? '';
    const cells = cellsOf(row);
    expect(cells.slice(1, 5)).toEqual([
      `\`${type}\``,
      EVENT_TYPES[type].source,
      EVENT_TYPES[type].component,
      EVENT_TYPES[type].when,
    ]);
    for (const field of eventDataFields(type)) {
      expect(cells[5]).toContain(`\`${field.name}\` ${field.type} (${field.required ? 'required' : 'optional'})`);
    }
  });

  it('reads required and optional fields and their types from the schema', () => {
    expect(eventDataFields('credits_transferred')).toEqual([
      { name: 'transfer_id', type: 'string', required: true },
      { name: 'from', type: 'string', required: true },
      { name: 'to', type: 'string', required: true },
      { name: 'amount', type: 'number > 0', required: true },
      { name: 'purpose', type: expect.stringMatching(/^one of `agent_grant`, `transfer`, /), required: true },
      { name: 'reference', type: 'string or null', required: true },
      { name: 'memo', type: 'string', required: false },
    ]);
    const judge = eventDataFields('judge_evaluation');
    expect(judge.find((f) => f.name === 'criteria')?.type).toBe(
      'array of object {`criterion`: string, `score`: integer 1–5, `justification`: string}',
    );
  });

  it('shows a field description given in the schema', () => {
    const schema = z.object({ rate: z.number().describe('tokens per second') });
    const node = z.toJSONSchema(schema) as { properties: Record<string, Parameters<typeof describeType>[0]> };
    expect(node.properties.rate?.description).toBe('tokens per second');
    // Every described field of the taxonomy appears with its description in the table.
    for (const type of TYPES) {
      for (const f of eventDataFields(type)) {
        if (f.description) expect(table).toContain(`(${f.required ? 'required' : 'optional'}): ${f.description}`);
      }
    }
  });
});

describe('describeType', () => {
  it.each<[z.ZodType, string]>([
    [z.string(), 'string'],
    [z.string().datetime(), 'string (date-time)'],
    [z.number().int().nonnegative(), 'integer ≥ 0'],
    [z.number().positive(), 'number > 0'],
    [z.number().min(1).max(5), 'number 1–5'],
    [z.boolean(), 'boolean'],
    [z.enum(['a', 'b']), 'one of `a`, `b`'],
    [z.literal('x'), '`x`'],
    [z.string().nullable(), 'string or null'],
    [z.array(z.number().int()), 'array of integer'],
    [z.unknown(), 'any JSON'],
    [z.object({ a: z.string(), b: z.number().optional() }), 'object {`a`: string, `b`?: number}'],
    [z.record(z.enum(['cpu', 'memory']), z.number()), 'map {`cpu`, `memory`} → number'],
    [z.record(z.string(), z.unknown()), 'map of string → any JSON'],
  ])('%#: %s', (schema, expected) => {
    expect(describeType(z.toJSONSchema(schema) as Parameters<typeof describeType>[0])).toBe(expected);
  });
});

describe('generated section markers', () => {
  const doc = `# Title\n\nprose before\n\n${GENERATED_START}\nold table\n${GENERATED_END}\n\nprose after\n`;

  it('replaces only the text between the markers', () => {
    const updated = withGeneratedSection(doc, '| new |\n');
    expect(updated).toBe(`# Title\n\nprose before\n\n${GENERATED_START}\n| new |\n${GENERATED_END}\n\nprose after\n`);
    expect(generatedSection(updated)).toBe('| new |\n');
    expect(withGeneratedSection(updated, '| new |\n')).toBe(updated);
  });

  it('refuses a document without markers, and reports none', () => {
    expect(() => withGeneratedSection('# no markers', 'x')).toThrow(/markers/);
    expect(generatedSection('# no markers')).toBeUndefined();
    expect(generatedSection(`${GENERATED_END} then ${GENERATED_START}`)).toBeUndefined();
  });
});
