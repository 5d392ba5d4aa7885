import { describe, expect, it, vi } from 'vitest';
import { DomainError } from '../../core/errors.ts';
import { fixtureRequest } from './middleware.fixtures.ts';
import { problemMiddleware } from './problem.ts';

describe('problemMiddleware', () => {
  it('validates its options', () => {
    expect(() => problemMiddleware({ logger: {} as never })).toThrow(/logger/);
  });

  it('renders an unanswered error and logs it when it is not a domain error', async () => {
    const logger = { error: vi.fn() };
    const request = fixtureRequest('GET /v1/health');
    request.error = new Error('boom');
    await problemMiddleware({ logger }).onError?.(request);
    expect(request.response?.statusCode).toBe(500);
    expect(request.response?.body).not.toContain('boom');
    expect(logger.error).toHaveBeenCalledOnce();
  });

  it('keeps an answer an inner middleware rendered, and still logs what went wrong', async () => {
    const logger = { error: vi.fn() };
    const request = fixtureRequest('GET /v1/health');
    request.error = new TypeError('bug');
    request.response = { statusCode: 500, body: 'stored' };
    await problemMiddleware({ logger }).onError?.(request);
    expect(request.response).toEqual({ statusCode: 500, body: 'stored' });
    expect(logger.error).toHaveBeenCalledOnce();
  });

  it('does not log domain errors', async () => {
    const logger = { error: vi.fn() };
    const request = fixtureRequest('GET /v1/health');
    request.error = new DomainError('not_found', 404, 'x');
    await problemMiddleware({ logger }).onError?.(request);
    expect(request.response?.statusCode).toBe(404);
    expect(logger.error).not.toHaveBeenCalled();
  });
});
