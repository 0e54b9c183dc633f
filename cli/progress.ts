// The run's progress: a one-line bar on a TTY (step, reward, accuracy, length, ETA); nothing otherwise
// (the updater's pino logs carry the same numbers).
import type { PolicyUpdated } from "../streams/events/index.ts";

export class Progress {
  private t0 = performance.now();
  private first?: number;
  private done = 0;
  constructor(private total: number, private tty = Boolean(process.stderr.isTTY)) {}
  step(e: PolicyUpdated): void {
    this.first ??= e.step;
    this.done = e.step - this.first + 1;
    if (!this.tty) return;
    const per = (performance.now() - this.t0) / this.done;
    const left = Math.max(0, this.total - e.step - 1);
    const width = 24;
    const fill = Math.round(((e.step + 1) / this.total) * width);
    const s = e.stats;
    const eta = fmtTime((left * per) / 1000);
    process.stderr.write(`\r\x1b[2Kstep ${e.step + 1}/${this.total} [${"#".repeat(fill)}${" ".repeat(width - fill)}] reward ${s.rewardMean.toFixed(3)} acc ${s.accuracyRate.toFixed(3)} fmt ${s.formatRate.toFixed(3)} len ${s.responseLengthMean.toFixed(1)} kl ${s.kl.toExponential(1)} | ${(per / 1000).toFixed(2)} s/step ETA ${eta}`);
  }
  end(): void { if (this.tty) process.stderr.write("\n"); }
}

export function fmtTime(sec: number): string {
  if (!Number.isFinite(sec)) return "?";
  const m = Math.floor(sec / 60), s = Math.round(sec % 60);
  return m ? `${m}m${String(s).padStart(2, "0")}s` : `${s}s`;
}
