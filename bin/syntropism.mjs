#!/usr/bin/env node
// The `syntropism` command: runs the TypeScript CLI through tsx, so there is no build step.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../local/cli.ts');
runCli(process.argv.slice(2));
