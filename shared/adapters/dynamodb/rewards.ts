/**
 * Human rewards on DynamoDB: one transaction marks the prompt rewarded, mints the credits to
 * its agent through the ledger writer, wakes the agent if it was dormant, counts the credits
 * against the rater's hourly mint ceiling, holds the rater's key active, and writes the events.
 * Any refusal — rewarded already, expired, over the ceiling, revoked key, money supply
 * exhausted — cancels all of it.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { notFound, unauthorized } from '../../core/errors.ts';
import type { Envelope, EventContext } from '../../core/events.ts';
import { makeEvent } from '../../core/events.ts';
import type { EconomyConfig } from '../../core/market-config.ts';
import { formatCredits, type Micros, micros, parseCredits } from '../../core/money.ts';
import { agentAggregate, humanReward, ledgerChange, type Movement, transferredEvent } from '../../core/movements.ts';
import type { Runtime } from '../../core/ports.ts';
import {
  alreadyRewarded,
  decidedKey,
  mintCeilingExceeded,
  mintHour,
  type PromptRecord,
  type PromptReward,
  rewardAmount,
  rewardEvent,
  rewardRefusal,
  type Scores,
} from '../../core/prompts.ts';
import { keys } from '../../table.ts';
import { agentStateAction } from './agent-state.ts';
import type { TableRef } from './client.ts';
import { type AccountItem, type AccountSnapshot, toSnapshot } from './ledger.ts';
import type { LedgerWriter } from './ledger-writer.ts';
import { outboxAction } from './outbox.ts';
import type { Prompts } from './prompts.ts';
import { activeRaterCheck } from './raters.ts';
import type { TxAction, TxRunner } from './transaction.ts';

export interface RewardsDeps {
  table: TableRef;
  tx: TxRunner;
  writer: LedgerWriter;
  runtime: Runtime;
  prompts: Pick<Prompts, 'get'>;
  economy: Pick<EconomyConfig, 'rewards' | 'money'>;
}

/** Who rewards: a rater by id, or the operator (who counts as one rater for the ceiling). */
export type RewardingHuman = { role: 'rater'; rater_id: string } | { role: 'operator' };

export interface RewardRequest {
  scores: Scores;
  reason: string;
  /** Derived from the caller's Idempotency-Key: a retry of this very request is answered again. */
  request_id: string;
}

export interface RewardOutcome {
  prompt: PromptRecord;
  reward: PromptReward;
  /** The agent's balance just after the reward. */
  balance: Micros;
}

function sameReward(stored: PromptReward, by: string, req: RewardRequest): boolean {
  const a = stored.scores;
  const b = req.scores;
  return (
    stored.request_id === req.request_id &&
    stored.rated_by === by &&
    stored.reason === req.reason &&
    a.interesting === b.interesting &&
    a.useful === b.useful &&
    a.understandable === b.understandable
  );
}

const ratedBy = (h: RewardingHuman) => (h.role === 'rater' ? `rater:${h.rater_id}` : 'operator');
/** Mint windows stay a day past their hour: long enough to read back, short enough to stay small. */
const MINT_WINDOW_TTL_SECONDS = 2 * 3600 + 86_400;

interface Reading {
  prompt: PromptRecord;
  account: AccountSnapshot;
  state: string;
}

export class Rewards {
  constructor(private readonly deps: RewardsDeps) {}

  private get tableName() {
    return this.deps.table.tableName;
  }

  reward(promptId: string, human: RewardingHuman, req: RewardRequest, ctx: EventContext): Promise<RewardOutcome> {
    return this.deps.tx.run<RewardOutcome>(`reward ${promptId}`, async () => {
      const now = this.deps.runtime.clock.now();
      const prompt = await this.deps.prompts.get(promptId);
      if (!prompt) throw notFound(`Prompt ${promptId}`);
      // A retry of the very request that rewarded (its answer was lost) is answered again.
      if (prompt.reward && sameReward(prompt.reward, ratedBy(human), req)) {
        return { done: await this.replay(prompt, prompt.reward) };
      }
      const refusal = rewardRefusal(prompt, now);
      if (refusal) throw refusal;
      const amount = rewardAmount(req.scores, this.deps.economy.rewards);
      const ceiling = parseCredits(this.deps.economy.money.max_minted_per_rater_per_hour);
      if (amount > ceiling) throw mintCeilingExceeded(ceiling, undefined, amount, now);
      const reading = await this.read(prompt);
      return this.plan(reading, human, req, amount, now, ctx);
    });
  }

  private async replay(prompt: PromptRecord, reward: PromptReward): Promise<RewardOutcome> {
    const account = await this.deps.table.doc.send(
      new GetCommand({ TableName: this.tableName, Key: keys.account(prompt.agent_id), ConsistentRead: true }),
    );
    return { prompt, reward, balance: micros(Number(account.Item?.balance ?? 0)) };
  }

  private async read(prompt: PromptRecord): Promise<Reading> {
    const get = (key: Record<string, string>) =>
      this.deps.table.doc.send(new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }));
    const [account, agent] = await Promise.all([get(keys.account(prompt.agent_id)), get(keys.agent(prompt.agent_id))]);
    if (!account.Item || !agent.Item) throw notFound(`Agent ${prompt.agent_id}`);
    return { prompt, account: toSnapshot(account.Item as AccountItem), state: String(agent.Item.state) };
  }

  private plan(r: Reading, human: RewardingHuman, req: RewardRequest, amount: Micros, now: number, ctx: EventContext) {
    const at = new Date(now).toISOString();
    const movement = amount > 0 ? humanReward(r.prompt.prompt_id, r.prompt.agent_id, amount, at) : undefined;
    const reward: PromptReward = {
      scores: req.scores,
      reason: req.reason,
      credits_awarded: amount,
      rated_by: ratedBy(human),
      rewarded_at: at,
      transfer_id: movement?.record.transfer_id ?? null,
      request_id: req.request_id,
    };
    const waking = movement !== undefined && r.state === 'dormant';
    const events = this.events(r, reward, movement, waking, ctx);
    const actions: TxAction<RewardOutcome>[] = [this.promptAction(r.prompt, reward, now)];
    if (movement) {
      actions.push(...this.creditActions(r, movement, events.inAgentSequence, waking));
      actions.push(this.mintWindowAction(amount, reward.rated_by, now));
    }
    if (human.role === 'rater') {
      actions.push(activeRaterCheck(this.tableName, human.rater_id, () => unauthorized('This rater key was revoked.')));
    }
    actions.push(outboxAction(this.tableName, events.all, now));
    const rewarded: PromptRecord = { ...r.prompt, status: 'rewarded', reward };
    return { actions, result: () => ({ prompt: rewarded, reward, balance: micros(r.account.balance + amount) }) };
  }

  /** The agent's credit: the ledger writer's actions and its state, held (or woken). */
  private creditActions(r: Reading, movement: Movement, seq: number, waking: boolean) {
    const agentId = r.prompt.agent_id;
    const change = ledgerChange(
      [movement],
      [{ account_id: agentId, seq, lock: { kind: 'version', version: r.account.version } }],
    );
    return [
      ...this.deps.writer.actions<RewardOutcome>(change, () => ({
        kind: 'fail',
        error: alreadyRewarded(r.prompt.prompt_id),
      })),
      // Held in the state read, so a concurrent sleep or wake makes the reward replan.
      agentStateAction<RewardOutcome>(
        this.tableName,
        agentId,
        waking ? 'dormant' : 'active',
        waking ? 'active' : undefined,
      ),
    ];
  }

  /** The prompt moves pending → rewarded, conditioned on it still pending and in time. */
  private promptAction(p: PromptRecord, reward: PromptReward, now: number): TxAction<RewardOutcome> {
    const decided = keys.promptsIndex('rewarded', decidedKey(now, p.prompt_id));
    return {
      label: `reward ${p.prompt_id}`,
      item: {
        Update: {
          TableName: this.tableName,
          Key: keys.prompt(p.prompt_id),
          UpdateExpression:
            'SET #status = :rewarded, reward = :reward, GSI2PK = :pk, GSI2SK = :sk REMOVE GSI1PK, GSI1SK',
          ConditionExpression: '#status = :pending AND expires_at_ms > :now',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':rewarded': 'rewarded',
            ':pending': 'pending',
            ':reward': reward,
            ':pk': decided.GSI2PK,
            ':sk': decided.GSI2SK,
            ':now': now,
          },
        },
      },
      onConditionFailed: (old) => {
        const refusal = old && rewardRefusal({ ...p, status: old.status as PromptRecord['status'] }, now);
        return refusal ? { kind: 'fail', error: refusal } : { kind: 'retry' };
      },
    };
  }

  /** The rater's credits this UTC hour, conditioned on staying within the ceiling. */
  private mintWindowAction(amount: Micros, rater: string, now: number): TxAction<RewardOutcome> {
    const ceiling = parseCredits(this.deps.economy.money.max_minted_per_rater_per_hour);
    return {
      label: 'mint window',
      item: {
        Update: {
          TableName: this.tableName,
          Key: keys.mintWindow(rater, mintHour(now).hour),
          UpdateExpression: 'SET kind = :kind, expires_at = :ttl ADD minted :amount',
          ConditionExpression: 'attribute_not_exists(minted) OR minted <= :room',
          ExpressionAttributeValues: {
            ':kind': 'mint_window',
            ':ttl': Math.floor(mintHour(now).endsAtMs / 1000) + MINT_WINDOW_TTL_SECONDS,
            ':amount': amount,
            ':room': ceiling - amount,
          },
        },
      },
      onConditionFailed: (old) => ({
        kind: 'fail',
        error: mintCeilingExceeded(ceiling, old ? micros(Number(old.minted)) : undefined, amount, now),
      }),
    };
  }

  private events(r: Reading, reward: PromptReward, movement: Movement | undefined, waking: boolean, ctx: EventContext) {
    const rt = this.deps.runtime;
    const agentId = r.prompt.agent_id;
    const inAgent: Envelope[] = [];
    if (movement) {
      const meta = { agent_id: agentId, aggregate: agentAggregate(agentId), sequence: r.account.seq + 1 };
      inAgent.push(transferredEvent(rt, movement.record, ctx, meta));
    }
    if (waking) {
      const balance = formatCredits(r.account.balance + reward.credits_awarded);
      inAgent.push(
        makeEvent(
          rt,
          {
            type: 'agent_awake',
            agent_id: agentId,
            aggregate: agentAggregate(agentId),
            sequence: r.account.seq + 2,
            causation_id: inAgent[0]?.event_id,
            data: { agent_id: agentId, awakened_by: reward.rated_by, current_balance: balance },
          },
          ctx,
        ),
      );
    }
    const issued = rewardEvent(rt, r.prompt, reward, ctx, inAgent[0]?.event_id);
    return {
      all: [inAgent[0], issued, ...inAgent.slice(1)].filter((e) => e !== undefined),
      inAgentSequence: inAgent.length,
    };
  }
}
