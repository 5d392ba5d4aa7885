/**
 * Prompts on DynamoDB: submission (the prompt item and `prompt_submitted`, one transaction),
 * the human's queue, and expiry. Rewards are in `rewards.ts`. What a prompt is and may do is
 * decided in `shared/core/prompts.ts`; this module only writes it down.
 *
 * A prompt item is indexed by status in GSI2 (`PROMPTS#PENDING` in the queue's order, the
 * others by when they were decided) and, while pending, by expiry in GSI1 for the sweeper.
 */
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { AllocationRecord } from '../../core/allocations.ts';
import { notFound } from '../../core/errors.ts';
import type { EventContext } from '../../core/events.ts';
import type { Runtime } from '../../core/ports.ts';
import {
  decidedKey,
  expiredEvent,
  newPrompt,
  type PromptInput,
  type PromptRecord,
  type PromptStatus,
  promptExists,
  promptStatus,
  queueKey,
  submissionRefusal,
  submittedEvent,
} from '../../core/prompts.ts';
import { keys } from '../../table.ts';
import type { TableRef } from './client.ts';
import { listings } from './cursor.ts';
import { outboxAction } from './outbox.ts';
import type { Item, TxRunner } from './transaction.ts';

export interface PromptsDeps {
  table: TableRef;
  tx: TxRunner;
  runtime: Runtime;
  allocation: (allocationId: string) => Promise<AllocationRecord | undefined>;
  ttlSeconds: number;
}

/** The stored item of a prompt. `expires_at` is the table's TTL attribute, so the ISO time is not stored. */
export function promptItem(p: PromptRecord): Item {
  const { expires_at: _derived, ...stored } = p;
  return { ...keys.prompt(p.prompt_id), kind: 'prompt', ...stored };
}

export function toPrompt(item: Item): PromptRecord {
  const { PK: _pk, SK: _sk, GSI1PK: _a, GSI1SK: _b, GSI2PK: _c, GSI2SK: _d, kind: _k, ...rest } = item;
  const p = rest as unknown as Omit<PromptRecord, 'expires_at'>;
  return { ...p, expires_at: new Date(p.expires_at_ms).toISOString() };
}

export class Prompts {
  constructor(private readonly deps: PromptsDeps) {}

  private get tableName() {
    return this.deps.table.tableName;
  }

  async get(promptId: string): Promise<PromptRecord | undefined> {
    const out = await this.deps.table.doc.send(
      new GetCommand({ TableName: this.tableName, Key: keys.prompt(promptId), ConsistentRead: true }),
    );
    return out.Item ? toPrompt(out.Item) : undefined;
  }

  /** Shows the human a prompt on the caller's active allocation with attention; one per allocation. */
  async submit(agentId: string, input: PromptInput, ctx: EventContext): Promise<PromptRecord> {
    const { runtime } = this.deps;
    const now = runtime.clock.now();
    const allocation = await this.deps.allocation(input.allocation_id);
    if (!allocation) throw notFound(`Allocation ${input.allocation_id}`);
    const refusal = submissionRefusal(allocation, agentId, now);
    if (refusal) throw refusal;
    if (input.reply_to !== undefined) {
      // A reply continues one of the agent's own conversations; another's prompt is not found.
      const earlier = await this.get(input.reply_to);
      if (!earlier || earlier.agent_id !== agentId) throw notFound(`Prompt ${input.reply_to}`);
    }
    const prompt = newPrompt(input, allocation, now, this.deps.ttlSeconds);
    const event = submittedEvent(runtime, prompt, ctx);
    return this.deps.tx.run<PromptRecord>(`prompt ${prompt.prompt_id}`, async () => ({
      actions: [
        {
          label: 'prompt of the allocation',
          item: {
            Put: {
              TableName: this.tableName,
              Item: {
                ...promptItem(prompt),
                ...keys.promptsIndex('pending', queueKey(prompt)),
                ...keys.expiringPromptsIndex(prompt.expires_at_ms, prompt.prompt_id),
              },
              ConditionExpression: 'attribute_not_exists(PK)',
            },
          },
          onConditionFailed: () => ({ kind: 'fail', error: promptExists(input.allocation_id) }),
        },
        outboxAction<PromptRecord>(this.tableName, [event], now),
      ],
      result: () => prompt,
    }));
  }

  /**
   * Prompts of one status. Pending ones in the queue's order — highest attention bid first,
   * then oldest — without those whose time ran out; the others newest first.
   */
  async list(opts: { status: PromptStatus; limit: number; cursor?: string; caller: string }) {
    const pages = listings.prompts(opts.caller, opts.status);
    const pending = opts.status === 'pending';
    const out = await this.deps.table.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: 'GSI2',
        KeyConditionExpression: 'GSI2PK = :p',
        ExpressionAttributeValues: {
          ':p': keys.promptsPartition(opts.status),
          ...(pending && { ':now': this.deps.runtime.clock.now() }),
        },
        ...(pending && { FilterExpression: 'expires_at_ms > :now' }),
        ScanIndexForward: pending,
        Limit: opts.limit,
        ExclusiveStartKey: pages.decode(opts.cursor),
      }),
    );
    return { prompts: (out.Items ?? []).map(toPrompt), next_cursor: pages.encode(out.LastEvaluatedKey) };
  }

  /**
   * Marks pending prompts whose time ran out as expired (`prompt_expired`), oldest first, at most
   * `limit`. A reward committed meanwhile wins: the expiry is conditioned on the prompt pending.
   */
  async expireDue(limit: number, ctx: EventContext = {}): Promise<{ examined: number; expired: number }> {
    const now = this.deps.runtime.clock.now();
    const out = await this.deps.table.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: 'GSI1',
        KeyConditionExpression: 'GSI1PK = :p AND GSI1SK < :now',
        ExpressionAttributeValues: {
          ':p': keys.expiringPromptsPartition,
          ':now': String(now).padStart(15, '0'),
        },
        Limit: limit,
      }),
    );
    const due = (out.Items ?? []).map(toPrompt);
    const results = await Promise.all(due.map((p) => this.expire(p.prompt_id, ctx)));
    return { examined: due.length, expired: results.filter(Boolean).length };
  }

  private expire(promptId: string, ctx: EventContext): Promise<boolean> {
    return this.deps.tx.run<boolean>(`expire ${promptId}`, async () => {
      const now = this.deps.runtime.clock.now();
      const p = await this.get(promptId);
      if (p?.status !== 'pending' || promptStatus(p, now) !== 'expired') return { done: false };
      const at = new Date(now).toISOString();
      const decided = keys.promptsIndex('expired', decidedKey(now, promptId));
      return {
        actions: [
          {
            label: `expire ${promptId}`,
            item: {
              Update: {
                TableName: this.tableName,
                Key: keys.prompt(promptId),
                UpdateExpression:
                  'SET #status = :expired, expired_at = :at, GSI2PK = :pk, GSI2SK = :sk REMOVE GSI1PK, GSI1SK',
                ConditionExpression: '#status = :pending',
                ExpressionAttributeNames: { '#status': 'status' },
                ExpressionAttributeValues: {
                  ':expired': 'expired',
                  ':pending': 'pending',
                  ':at': at,
                  ':pk': decided.GSI2PK,
                  ':sk': decided.GSI2SK,
                },
              },
            },
            // Rewarded meanwhile: the reward won, nothing to expire.
            onConditionFailed: () => ({ kind: 'done', result: false }),
          },
          outboxAction<boolean>(this.tableName, [expiredEvent(this.deps.runtime, p, ctx)], now),
        ],
        result: () => true,
      };
    });
  }
}
