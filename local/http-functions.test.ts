/**
 * The handlers the local server serves are the functions' own `makeHandler`s: each serves
 * exactly its routes of the table (building one checks it), and importing a function module
 * reads no environment (the Lambda entries are built on first invocation).
 */
import { describe, expect, it, vi } from 'vitest';
import { createServices } from '#shared/adapters/services';
import { loadConfig } from '#shared/config';
import { HTTP_FUNCTIONS, ROUTES } from '#shared/http/routes';
import { httpFunctions } from './http-functions.ts';

const MODULES = [...HTTP_FUNCTIONS.map((fn) => `../functions/http/${fn}.ts`), '../functions/authorizer.ts'];

describe('httpFunctions', () => {
  it('builds a handler for every function of the route table, and the authorizer', () => {
    const config = loadConfig({ TABLE_NAME: 'unused', AWS_REGION: 'us-east-1' });
    const built = httpFunctions(createServices(config));
    expect(Object.keys(built.handlers).sort()).toEqual([...HTTP_FUNCTIONS].sort());
    expect(new Set(ROUTES.map((r) => r.fn))).toEqual(new Set(HTTP_FUNCTIONS));
    expect(typeof built.authorizer).toBe('function');
  });
});

describe('function modules', () => {
  it('read no environment when imported', async () => {
    vi.resetModules();
    const read: string[] = [];
    const real = process.env;
    process.env = new Proxy(real, {
      get(target, name) {
        if (typeof name === 'string') read.push(name);
        return Reflect.get(target, name);
      },
    });
    try {
      for (const path of MODULES) {
        const mod = (await import(path)) as { handler?: unknown; makeHandler?: unknown; makeAuthorizer?: unknown };
        expect(typeof mod.handler, path).toBe('function');
        expect(typeof (mod.makeHandler ?? mod.makeAuthorizer), path).toBe('function');
      }
    } finally {
      process.env = real;
    }
    expect(read).toEqual([]);
  });
});
