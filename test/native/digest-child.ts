// Run by digest.test.ts in a child process with ZS_KERNELS set: prints the kernel set it runs and, when asked,
// the f32 engine digest (a bad ZS_KERNELS throws at the first call, so the process fails with its message).
import { kernelSet } from "../../native/index.ts";

export async function main(digest: boolean): Promise<void> {
  const set = kernelSet();
  if (!digest) { process.stdout.write(`${set}\n`); return; }
  const { engineDigest } = await import("./engine-digest.ts");
  process.stdout.write(`${set} ${await engineDigest("f32")}\n`);
}
