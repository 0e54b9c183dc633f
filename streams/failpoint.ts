// Failpoints for crash tests: ZS_FAILPOINT="<name>:<step>" makes the process die with SIGKILL at that
// point of that step, as a power cut would. Unset (always, outside tests) it does nothing.
export function failpoint(name: string, step: number): void {
  const fp = process.env.ZS_FAILPOINT;
  if (!fp) return;
  const [n, s] = fp.split(":");
  if (n === name && Number(s) === step) {
    process.stderr.write(`failpoint ${name} at step ${step}: killing process ${process.pid}\n`);
    process.kill(process.pid, "SIGKILL");
  }
}
