/**
 * A runs directory that looks like a real project's, for the browser tests and the screenshots in
 * docs/img: training runs with flags, metrics, loss-curve images drawn here (PNG, no library),
 * CSV metrics, YAML config, logs, labels and comments by several people.
 */
import { createHash } from "node:crypto";
import { deflateSync, crc32 } from "node:zlib";
import { appendUserLog, newLogId } from "../../src/runs/user-log.js";
import { writeRun } from "./serve.js";

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td) >>> 0);
  return Buffer.concat([len, td, crc]);
}

/** A line chart of `series` (each a list of y values in [0, 1]) as a PNG. */
export function lineChartPng(series: Array<{ ys: number[]; color: [number, number, number] }>, w = 560, h = 320): Buffer {
  const px = Buffer.alloc(w * h * 3, 255);
  const set = (x: number, y: number, c: [number, number, number], a = 1) => {
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    const i = (Math.round(y) * w + Math.round(x)) * 3;
    for (let k = 0; k < 3; k++) px[i + k] = Math.round(px[i + k]! * (1 - a) + c[k]! * a);
  };
  const m = { l: 44, r: 16, t: 16, b: 30 };
  const grid: [number, number, number] = [228, 232, 238];
  for (let g = 0; g <= 4; g++) {
    const y = m.t + ((h - m.t - m.b) * g) / 4;
    for (let x = m.l; x < w - m.r; x++) set(x, y, grid);
  }
  for (let g = 0; g <= 5; g++) {
    const x = m.l + ((w - m.l - m.r) * g) / 5;
    for (let y = m.t; y < h - m.b; y++) set(x, y, grid);
  }
  for (let x = m.l; x < w - m.r; x++) set(x, h - m.b, [120, 128, 140]);
  for (let y = m.t; y <= h - m.b; y++) set(m.l, y, [120, 128, 140]);
  for (const s of series) {
    const pts = s.ys.map((v, i) => [m.l + ((w - m.l - m.r) * i) / (s.ys.length - 1), m.t + (h - m.t - m.b) * (1 - v)] as const);
    for (let i = 1; i < pts.length; i++) {
      const [x0, y0] = pts[i - 1]!;
      const [x1, y1] = pts[i]!;
      const steps = Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0)) * 2);
      for (let t = 0; t <= steps; t++) {
        const x = x0 + ((x1 - x0) * t) / steps;
        const y = y0 + ((y1 - y0) * t) / steps;
        for (let dx = -1; dx <= 1; dx++) for (let dy = -1; dy <= 1; dy++) set(x + dx, y + dy, s.color, dx === 0 && dy === 0 ? 1 : 0.35);
      }
    }
  }
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) px.copy(raw, y * (w * 3 + 1) + 1, y * w * 3, (y + 1) * w * 3);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([Buffer.from("89504e470d0a1a0a", "hex"), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
}

export interface DemoRun {
  id: string;
  lr: number;
  batch: number;
  loss: number;
  acc: number;
}

/** Writes the demo runs (newest last written first in time order); returns them newest first. */
export async function demoRuns(runsDir: string, nowSec: number): Promise<DemoRun[]> {
  const configs: Array<{ lr: number; batch: number; label?: string; exit?: number; op?: string }> = [
    { lr: 0.1, batch: 32, label: "baseline" },
    { lr: 0.05, batch: 32 },
    { lr: 0.01, batch: 64, label: "smaller lr, bigger batch" },
    { lr: 0.01, batch: 128 },
    { lr: 0.3, batch: 32, exit: 1, label: "diverged" },
    { lr: 0.005, batch: 64, label: "best so far" },
    { lr: 0.02, batch: 64 },
    { lr: 0.01, batch: 64, op: "evaluate" },
    { lr: 0.008, batch: 96 },
    { lr: 0.004, batch: 64, exit: undefined },
  ];
  const out: DemoRun[] = [];
  for (const [i, c] of configs.entries()) {
    const h = createHash("sha256").update(`demo run ${i}`).digest("hex");
    const id = `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
    const started = nowSec - (configs.length - i) * 5400 - 600;
    const epochs = 20;
    const floor = 0.08 + Math.abs(Math.log10(c.lr / 0.006)) * 0.12 + (c.batch > 96 ? 0.05 : 0);
    const diverged = c.exit === 1;
    const loss = Array.from({ length: epochs }, (_, e) => (diverged ? Math.min(2.4, 0.9 + e * 0.09 + Math.sin(e) * 0.1) : floor + 0.95 * Math.exp(-e / 4.5) + Math.sin(e * 1.7 + i) * 0.012));
    const val = loss.map((v, e) => v + 0.03 + e * (diverged ? 0.01 : 0.002));
    const acc = diverged ? 0.11 : Math.min(0.99, 1 - loss.at(-1)! * 0.55);
    const shown = c.op === "evaluate" ? 1 : epochs;
    const log = loss.slice(0, shown).map((v, e) => `epoch ${String(e + 1).padStart(2)}/${epochs}  loss=${v.toFixed(4)}  val_loss=${val[e]!.toFixed(4)}  lr=${c.lr}`).join("\n") + "\n";
    const csv = "epoch,loss,val_loss\n" + loss.map((v, e) => `${e + 1},${v.toFixed(4)},${val[e]!.toFixed(4)}`).join("\n") + "\n";
    const top = Math.max(...val) * 1.1;
    const scale = (v: number) => Math.max(0, Math.min(1, v / top));
    const files: Record<string, string | Buffer> = {
      "train.py": "import yaml\n\ndef main(lr=0.01, batch_size=64, epochs=20):\n    for epoch in range(epochs):\n        loss = step(lr, batch_size)\n        print(f\"epoch {epoch + 1}/{epochs}  loss={loss:.4f}\")\n",
      "config.yaml": `model: resnet18\noptimizer:\n  name: sgd\n  lr: ${c.lr}\n  momentum: 0.9\nbatch_size: ${c.batch}\nepochs: ${epochs}\n`,
      "metrics.csv": csv,
      "plots/loss.png": lineChartPng([
        { ys: loss.map(scale), color: [37, 99, 235] },
        { ys: val.map(scale), color: [234, 88, 12] },
      ]),
      "checkpoints/model.pt": Buffer.alloc(4096 + i * 512, i),
    };
    await writeRun(runsDir, {
      id,
      op: c.op ?? "train",
      ...(c.exit === undefined && i === configs.length - 1 ? {} : { exit: c.exit ?? 0 }),
      started,
      seconds: 1800 + i * 97,
      flags: { lr: c.lr, batch_size: c.batch, epochs, model: "resnet18" },
      ...(c.label ? { label: c.label } : {}),
      attrs: diverged ? {} : { val_loss: Number(val.at(-1)!.toFixed(4)), accuracy: Number(acc.toFixed(3)) },
      files,
      output: diverged ? log + "Traceback (most recent call last):\n  File \"train.py\", line 5, in main\nFloatingPointError: loss is nan\n" : log,
      author: "maria",
    });
    out.unshift({ id, lr: c.lr, batch: c.batch, loss: loss.at(-1)!, acc });
  }
  const best = out.find((r) => r.lr === 0.005)!;
  const userDir = `${runsDir}/${best.id}.user`;
  const t = (nowSec - 3000) * 1000;
  await appendUserLog(userDir, { set: { [`comment:${newLogId(t).slice(0, 13)}`]: { msg: "Validation loss keeps falling after epoch 15 — worth a longer run?", timestamp: t } } }, { author: "maria", nowMs: t + 1 });
  await appendUserLog(userDir, { set: { [`comment:${newLogId(t + 900_000).slice(0, 13)}`]: { msg: "Agreed. Queued 40 epochs with the same lr.", timestamp: t + 900_000 } } }, { author: "jonas", nowMs: t + 900_001 });
  return out;
}
