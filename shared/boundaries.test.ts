/**
 * Keeps the architecture honest: the pure core imports no AWS SDK, middy, NATS, OpenTelemetry
 * or adapter; `infra/` imports only the pure data modules of `shared/`, never runtime code.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return files(path);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [path] : [];
  });
}

function imports(path: string): string[] {
  const text = readFileSync(path, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)[^'"]*from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1] ?? '');
}

describe('module boundaries', () => {
  it('the core imports only the core, zod and node built-ins', () => {
    const offenders: string[] = [];
    const core = join(root, 'shared/core');
    // A relative import stays in the core when it resolves inside shared/core (core/llm/ → ../).
    const inCore = (file: string, spec: string) =>
      spec.startsWith('.') && !relative(core, join(dirname(file), spec)).startsWith('..');
    for (const file of files(core)) {
      for (const spec of imports(file)) {
        const ok = inCore(file, spec) || spec === 'zod' || spec.startsWith('node:') || spec === 'ulidx';
        if (!ok) offenders.push(`${relative(root, file)} imports ${spec}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('the built-in strategies (shared/agents) are pure: they import only the core', () => {
    const offenders = files(join(root, 'shared/agents')).flatMap((file) =>
      imports(file)
        .filter((spec) => !spec.startsWith('../core/') && !spec.startsWith('./'))
        .map((spec) => `${relative(root, file)} imports ${spec}`),
    );
    expect(offenders).toEqual([]);
  });

  it('only the gateway functions reach the tokenizer (its ranks are megabytes of every bundle)', () => {
    const reaching = [...files(join(root, 'shared')), ...files(join(root, 'functions'))]
      .filter((file) => imports(file).some((spec) => /(^|\/)(compose|tokenizer)(\.ts)?$/.test(spec)))
      .map((file) => relative(root, file))
      .sort();
    expect(reaching).toEqual(['functions/http/llm.ts', 'shared/adapters/llm/compose.ts']);
  });

  it('infra imports no runtime code', () => {
    const allowedShared = [
      'shared/table',
      'shared/rules',
      'shared/http/routes',
      'shared/core/market-config',
      'shared/config',
    ];
    const offenders: string[] = [];
    for (const file of files(join(root, 'infra'))) {
      for (const spec of imports(file)) {
        if (spec.includes('shared/') && !allowedShared.some((a) => spec.includes(a))) {
          offenders.push(`${relative(root, file)} imports ${spec}`);
        }
        if (spec.startsWith('#functions') || spec.includes('/functions/') || spec.includes('adapters/')) {
          offenders.push(`${relative(root, file)} imports ${spec}`);
        }
      }
    }
    expect(offenders).toEqual([]);
  });

  it('functions reach shared code through subpath imports, not ../ chains', () => {
    const offenders: string[] = [];
    for (const file of files(join(root, 'functions'))) {
      for (const spec of imports(file))
        if (spec.startsWith('../')) offenders.push(`${relative(root, file)} imports ${spec}`);
    }
    expect(offenders).toEqual([]);
  });
});
