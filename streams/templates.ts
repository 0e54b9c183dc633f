// The built-in prompt templates, by name: part of the recipe a config names (data.template) and the
// schema checks; loaders/templates.ts renders them.
export const BUILTIN_TEMPLATES: Record<string, string> = {
  // DeepSeek-R1-Zero's template in Qwen's chat format, exactly as MindSpeed-RL's R1-Zero recipe.
  qwen_r1: "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nA conversation between User and Assistant. The user asks a question, and the Assistant solves it. The assistant first thinks about the reasoning process in the mind and then provides the user with the answer. The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning process here </think><answer> answer here </answer>. Put your final answer within \\boxed{}.\n{question}<|im_end|>\n<|im_start|>assistant\n",
  plain: "{question}",
  // the tiny models' R1 prompt (see docs/tiny-r1-zero.md)
  r1_plain: "Think: {question}\n",
  // the same, opened with the char tokenizer's <eos> as BOS, as in the tiny models' pretraining corpus
  tiny_r1: "<eos>Think: {question}\n",
};
