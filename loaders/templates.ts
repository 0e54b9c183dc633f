// Prompt templates: a registry of built-ins plus the ones a config adds under data.templates.
import { ZeroStreamError } from "../streams/errors.ts";
import { BUILTIN_TEMPLATES } from "../streams/templates.ts";

export { BUILTIN_TEMPLATES };

export class TemplateError extends ZeroStreamError {}


export function renderPrompt(template: string, question: string, user: Record<string, string> = {}): string {
  const t = user[template] ?? BUILTIN_TEMPLATES[template];
  if (t === undefined) throw new TemplateError(`unknown template '${template}'`);
  return t.split("{question}").join(question);
}
