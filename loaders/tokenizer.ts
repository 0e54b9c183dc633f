// Tokenizers: a Hugging Face tokenizer.json through @huggingface/tokenizers, and a built-in character
// tokenizer for tiny models (one character per token; the R1 tags and \boxed{ are single tokens).
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer as HfTok } from "@huggingface/tokenizers";
import { ZeroStreamError } from "../streams/errors.ts";

export class TokenizerError extends ZeroStreamError {}

export interface Tokenizer {
  readonly kind: string;
  readonly vocabSize: number;
  readonly eosId: number;
  readonly padId: number;
  readonly stopIds: number[];
  encode(text: string): number[];
  decode(ids: ArrayLike<number>, o?: { skipSpecial?: boolean }): string;
}

export const CHAR_SPECIALS = ["<pad>", "<eos>", "<think>", "</think>", "<answer>", "</answer>", "\\boxed{"] as const;
const CHAR_BASE = ["\n", ...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i))];

export class CharTokenizer implements Tokenizer {
  readonly kind = "char";
  readonly vocab: string[];
  private ids = new Map<string, number>();
  private specials: string[];
  readonly eosId = 1;
  readonly padId = 0;
  readonly stopIds = [1];
  constructor(extra: string[] = []) {
    this.specials = [...CHAR_SPECIALS, ...extra].sort((a, b) => b.length - a.length);
    this.vocab = [...CHAR_SPECIALS, ...extra, ...CHAR_BASE];
    this.vocab.forEach((t, i) => { if (!this.ids.has(t)) this.ids.set(t, i); });
  }
  get vocabSize(): number { return this.vocab.length; }
  encode(text: string): number[] {
    const out: number[] = [];
    let i = 0;
    outer: while (i < text.length) {
      if (text[i] === "<" || text[i] === "\\") {
        for (const s of this.specials) if (text.startsWith(s, i)) { out.push(this.ids.get(s)!); i += s.length; continue outer; }
      }
      const id = this.ids.get(text[i]);
      if (id === undefined) throw new TokenizerError(`the char tokenizer has no token for ${JSON.stringify(text[i])} (code ${text.charCodeAt(i)}) at offset ${i}`);
      out.push(id);
      i++;
    }
    return out;
  }
  decode(ids: ArrayLike<number>, o: { skipSpecial?: boolean } = {}): string {
    let s = "";
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (o.skipSpecial && (id === this.padId || id === this.eosId)) continue;
      // a model's vocabulary may be padded past the tokenizer's (as Qwen's is): such ids decode to U+FFFD
      s += this.vocab[id] ?? "\uFFFD";
    }
    return s;
  }
}

export class HfTokenizer implements Tokenizer {
  readonly kind = "hf";
  private tok: HfTok;
  readonly vocabSize: number;
  readonly eosId: number;
  readonly padId: number;
  readonly stopIds: number[];
  /** tokenizer_config.json's chat_template (Jinja source), when it has one */
  readonly chatTemplate: string | undefined;
  /** the special tokens tokenizer_config.json names, by role, with their ids */
  readonly specialTokens: { eos: string; pad: string; bos: string | null };
  constructor(tokenizerJson: Record<string, unknown>, config: Record<string, unknown>) {
    this.tok = new HfTok(tokenizerJson as never, config as never);
    const added = (tokenizerJson.added_tokens as { id: number; content: string }[] | undefined) ?? [];
    const vocab = ((tokenizerJson.model as { vocab?: Record<string, number> })?.vocab) ?? {};
    this.vocabSize = Math.max(Object.keys(vocab).length, ...added.map((a) => a.id + 1));
    const idOf = (t: unknown) => {
      const content = typeof t === "string" ? t : (t as { content?: string } | undefined)?.content;
      return added.find((a) => a.content === content)?.id ?? (content !== undefined ? vocab[content] : undefined);
    };
    const eos = idOf(config.eos_token);
    if (eos === undefined) throw new TokenizerError("tokenizer_config.json names no eos_token found in the vocabulary");
    this.eosId = eos;
    this.padId = idOf(config.pad_token) ?? eos;
    // a base model ends with <|endoftext|>, a chat model with <|im_end|>: stop on both when present
    const stops = new Set([eos, ...["<|endoftext|>", "<|im_end|>"].map(idOf).filter((x): x is number => x !== undefined)]);
    this.stopIds = [...stops].sort((a, b) => a - b);
    const ct = config.chat_template;
    this.chatTemplate = typeof ct === "string" ? ct : undefined;
    const contentOf = (t: unknown) => (typeof t === "string" ? t : (t as { content?: string } | null | undefined)?.content ?? null);
    const bos = contentOf(config.bos_token);
    if (bos !== null && idOf(bos) === undefined) throw new TokenizerError(`tokenizer_config.json's bos_token ${JSON.stringify(bos)} is not in the vocabulary`);
    if (contentOf(config.pad_token) !== null && idOf(config.pad_token) === undefined) {
      throw new TokenizerError(`tokenizer_config.json's pad_token ${JSON.stringify(contentOf(config.pad_token))} is not in the vocabulary`);
    }
    this.specialTokens = { eos: contentOf(config.eos_token)!, pad: contentOf(config.pad_token) ?? contentOf(config.eos_token)!, bos };
  }
  static load(path: string): HfTokenizer {
    const dir = existsSync(path) && statSync(path).isDirectory() ? path : join(path, "..");
    const file = existsSync(path) && statSync(path).isFile() ? path : join(dir, "tokenizer.json");
    if (!existsSync(file)) throw new TokenizerError(`no tokenizer.json at ${path}`);
    const cfgFile = join(dir, "tokenizer_config.json");
    const cfg = existsSync(cfgFile) ? JSON.parse(readFileSync(cfgFile, "utf8")) : {};
    return new HfTokenizer(JSON.parse(readFileSync(file, "utf8")), cfg);
  }
  encode(text: string): number[] {
    return this.tok.encode(text, { add_special_tokens: false } as never).ids;
  }
  decode(ids: ArrayLike<number>, o: { skipSpecial?: boolean } = {}): string {
    return this.tok.decode(Array.from(ids), { skip_special_tokens: o.skipSpecial ?? false } as never);
  }
}

export type TokenizerSpec = { type: "hf"; path: string } | { type: "char"; extra_tokens: string[] };

export function loadTokenizer(spec: TokenizerSpec): Tokenizer {
  return spec.type === "hf" ? HfTokenizer.load(spec.path) : new CharTokenizer(spec.extra_tokens);
}
