/**
 * Global setup of the integration project: one in-memory DynamoDB Local and one NATS
 * (the running one, or a spawned nats-server) for the whole run. Test files isolate
 * themselves with a table each (see context.ts). The endpoint and URL reach the tests
 * through `inject()` and, for code that reads the environment, DYNAMODB_ENDPOINT and NATS_URL.
 */
import type { TestProject } from 'vitest/node';
import { startDynamoDbLocal } from '#local/dynamodb-local';
import { ensureNats } from '#local/nats';
import './provided.ts';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Test machines are often busy: give the JVM more than the usual 30 s.
  const dynamo = await startDynamoDbLocal({ inMemory: true, timeoutMs: 90_000 });
  let nats: Awaited<ReturnType<typeof ensureNats>>;
  try {
    nats = await ensureNats({ url: process.env.NATS_URL });
  } catch (error) {
    await dynamo.stop();
    throw error;
  }
  project.provide('dynamoEndpoint', dynamo.endpoint);
  project.provide('natsUrl', nats.url);
  // Set before the test processes are forked, so they inherit it.
  process.env.DYNAMODB_ENDPOINT = dynamo.endpoint;
  process.env.NATS_URL = nats.url;

  return async () => {
    await nats.stop();
    await dynamo.stop();
  };
}
