/**
 * What the integration global setup hands to tests through vitest's provide/inject; the
 * declaration makes `inject('dynamoEndpoint')` typed.
 */

export interface HarnessProvided {
  /** DynamoDB Local, in memory, shared by every test file of the run. */
  dynamoEndpoint: string;
  /** A NATS server with JetStream. */
  natsUrl: string;
}

declare module 'vitest' {
  export interface ProvidedContext extends HarnessProvided {}
}
