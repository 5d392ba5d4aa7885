/**
 * The LLM gateway's AWS parts beyond its API Gateway routes: the provider key (a secret the
 * operator sets), the streaming function behind a Lambda function URL (InvokeMode
 * RESPONSE_STREAM; the HTTP API cannot stream), and the grants both gateway functions need:
 * the table for the meter (reserve, settle) and agent keys, and the provider secret, nothing more.
 */
import { CfnOutput, Duration } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { StackConfig } from '../config.ts';
import type { LedgerTable } from './ledger-table.ts';
import { SyntropismFunction, type SyntropismFunctionProps } from './syntropism-function.ts';

export interface LlmGatewayProps {
  readonly ledger: LedgerTable;
  readonly config: StackConfig;
  readonly functionDefaults: Omit<SyntropismFunctionProps, 'entry'>;
  /** The `llm` HTTP function (API Gateway routes), which gets the same provider settings. */
  readonly httpFunction: SyntropismFunction;
}

export class LlmGateway extends Construct {
  readonly providerKey: secretsmanager.Secret;
  readonly streamFunction: SyntropismFunction;
  readonly streamUrl: lambda.FunctionUrl;

  constructor(scope: Construct, id: string, props: LlmGatewayProps) {
    super(scope, id);
    const { ledger, config, functionDefaults, httpFunction } = props;

    // Created empty of any real key: the operator puts the provider's key in it after deploying.
    this.providerKey = new secretsmanager.Secret(this, 'ProviderKey', {
      description: "The LLM provider's API key (put-secret-value); read only by the gateway functions",
    });

    this.streamFunction = new SyntropismFunction(scope, 'LlmStreamFunction', {
      ...functionDefaults,
      entry: 'llm-stream.ts',
      description: 'The LLM gateway with response streaming (function URL)',
      // A stream lasts as long as the provider streams; the provider timeout bounds each gap.
      timeout: Duration.minutes(5),
    }).bindTable(ledger, { access: 'readwrite' });

    for (const [fn, timeoutMs] of [
      [httpFunction, config.llm.timeoutMs],
      [this.streamFunction, config.llm.streamTimeoutMs],
    ] as const) {
      fn.bindSecret('SYNTROPISM_LLM_SECRET_ARN', this.providerKey);
      fn.addEnvironment('SYNTROPISM_LLM_TIMEOUT_MS', String(timeoutMs));
      if (config.llm.baseUrl) fn.addEnvironment('SYNTROPISM_LLM_BASE_URL', config.llm.baseUrl);
    }

    // No IAM auth: agents authenticate with their own key, checked by the function itself.
    this.streamUrl = this.streamFunction.addFunctionUrl({
      authType: lambda.FunctionUrlAuthType.NONE,
      invokeMode: lambda.InvokeMode.RESPONSE_STREAM,
    });

    new CfnOutput(scope, 'LlmStreamUrl', {
      value: this.streamUrl.url,
      description: 'Streaming LLM gateway: OPENAI_BASE_URL=<this>v1/llm',
    });
    new CfnOutput(scope, 'LlmProviderKeySecretArn', {
      value: this.providerKey.secretArn,
      description: 'aws secretsmanager put-secret-value --secret-id <this> --secret-string <provider key>',
    });
  }
}
