/**
 * The gateway's tokenizer: `gpt-tokenizer` with the `o200k_base` encoding (GPT-4o, GPT-4.1,
 * GPT-5, o-series). Pure JavaScript (no WASM, nothing fetched at run time), the encoding's
 * ranks imported alone: ≈ 2.8 MB of a minified bundle, so only the two gateway functions import
 * this module (through adapters/llm/compose.ts, never services.ts), and they start without I/O. Other models' tokenizers differ by a few percent; the reservation only
 * bounds the call, and settlement uses the provider's own `usage`.
 */
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import type { TextTokenizer } from '../../core/llm/chat.ts';

/** Special-token text (`<|endoftext|>`) in a prompt is counted as text, never refused. */
const AS_TEXT = { disallowedSpecial: new Set<string>() };

export const o200kTokenizer: TextTokenizer = {
  count: (text) => (text ? countTokens(text, AS_TEXT) : 0),
};
